"""Settlement of the market presets, including 23- and 25-hour days."""

import re
from datetime import date
from decimal import Decimal

import numpy as np
import pytest

from openvpp.markets.calendar import delivery_index
from openvpp.markets.model import Direction, Settlement
from openvpp.markets.presets import load_presets
from openvpp.settlement import engine
from openvpp.settlement.engine import EnergyIntervals, ResponseIntervals

PRESETS = load_presets()
SDAC = PRESETS["EU-SDAC"]
CN_DA = PRESETS["CN-SD-DA"]
CN_DR = PRESETS["CN-SD-DR"]


@pytest.mark.parametrize(
    ("day", "quarter_hours"),
    [(date(2026, 3, 29), 92), (date(2026, 10, 25), 100), (date(2026, 6, 1), 96)],
)
def test_a_day_settles_every_interval_of_its_real_length(day, quarter_hours):
    grid = delivery_index(SDAC, day)
    assert len(grid) == quarter_hours
    n = len(grid)
    # 1 MW sold all day: 0.25 MWh per quarter-hour at 40.00 EUR/MWh; 0.9 MW delivered,
    # the shortfall bought at 100.00; the exchange fee 0.04 EUR/MWh on the traded energy
    lines = engine.settle_energy(
        EnergyIntervals(
            scheduled_mwh=np.full(n, 0.25),
            metered_mwh=np.full(n, 0.225),
            day_ahead_price=np.full(n, 40.0),
            real_time_price=np.full(n, 100.0),
        ),
        SDAC.settlement,
    )
    hours = quarter_hours / 4
    assert int(lines["day_ahead"].sum()) == round(hours * 40 * 100)  # cents
    assert int(lines["imbalance"].sum()) == round(-hours * 0.1 * 100 * 100)
    # 0.25 MWh x 0.04 = 0.01 EUR per quarter-hour
    assert lines["fee:EXCHANGE"].tolist() == [-1] * n
    assert set(lines) == {"day_ahead", "imbalance", "fee:EXCHANGE"}


def test_the_chinese_preset_assesses_deviations_beyond_its_band():
    # CN-SD-DA: deviations beyond 3 % pay the real-time price once more
    lines = engine.settle_energy(
        EnergyIntervals(
            scheduled_mwh=[10.0, 10.0],
            metered_mwh=[9.8, 9.0],
            day_ahead_price=[350.0, 350.0],
            real_time_price=[380.0, 380.0],
            contract_mwh=[8.0, 8.0],
            contract_price=400.0,
        ),
        CN_DA.settlement,
    )
    assert lines["day_ahead"].tolist() == [350_000, 350_000]
    assert lines["imbalance"].tolist() == [-7_600, -38_000]
    assert lines["contract_for_difference"].tolist() == [40_000, 40_000]
    # band 0.3 MWh: 0.2 is inside; 1.0 - 0.3 = 0.7 MWh x 380 = 266.00
    assert lines["deviation_penalty"].tolist() == [0, -26_600]
    assert engine.total(lines).tolist() == [382_400, 325_400]


def test_resources_settle_in_one_call_and_sum_to_their_aggregate():
    rng = np.random.default_rng(7)
    scheduled = rng.uniform(-1, 1, (50, 96)).round(3)
    metered = (scheduled + rng.normal(0, 0.05, (50, 96))).round(3)
    da, rt = rng.uniform(-20, 120, 96), rng.uniform(-50, 300, 96)
    per_resource = engine.settle_energy(
        EnergyIntervals(scheduled, metered, da.round(2), rt.round(2)), Settlement()
    )
    assert per_resource["day_ahead"].shape == (50, 96)
    aggregate = engine.settle_energy(
        EnergyIntervals(scheduled.sum(0), metered.sum(0), da.round(2), rt.round(2)), Settlement()
    )
    # the lines are linear: the sum of the resources' amounts differs from the aggregate's by
    # the per-resource rounding only (at most half a cent per resource and interval)
    for line in ("day_ahead", "imbalance"):
        gap = np.abs(per_resource[line].sum(0) - aggregate[line])
        assert int(gap.max()) <= 25


def test_traded_value_replaces_the_day_ahead_valuation():
    value = np.array([12_345, -678], dtype=np.int64)
    lines = engine.settle_energy(
        EnergyIntervals([1.0, -1.0], [1.0, -1.0], [10.0, 10.0], [10.0, 10.0], traded_value=value),
        Settlement(),
    )
    assert lines["day_ahead"].tolist() == [12_345, -678]
    with pytest.raises(ValueError, match="traded_value must be integers of shape"):
        engine.settle_energy(
            EnergyIntervals([1.0], [1.0], [1.0], [1.0], traded_value=np.array([1.5])),
            Settlement(),
        )


def test_dual_pricing_only_when_the_preset_says_so():
    inputs = EnergyIntervals([0.0, 1.0], [1.0, 0.0], [50.0, 50.0], [40.0, 40.0], [90.0, 90.0])
    single = engine.settle_energy(inputs, Settlement())
    dual = engine.settle_energy(inputs, Settlement(imbalance_pricing="dual"))
    assert single["imbalance"].tolist() == [4_000, -4_000]
    assert dual["imbalance"].tolist() == [4_000, -9_000]


def test_bad_shapes_name_the_field():
    with pytest.raises(ValueError, match="metered_mwh must have shape"):
        engine.settle_energy(
            EnergyIntervals([1.0, 2.0], [1.0], [1.0, 1.0], [1.0, 1.0]), Settlement()
        )
    with pytest.raises(ValueError, match="day_ahead_price must have one price per interval"):
        engine.settle_energy(
            EnergyIntervals([1.0, 2.0], [1.0, 2.0], [1.0], [1.0, 1.0]), Settlement()
        )
    with pytest.raises(ValueError, match=re.escape("fee X rate 0.00001 is not a multiple")):
        engine.settle_energy(
            EnergyIntervals([1.0], [1.0], [1.0], [1.0]),
            Settlement(fees=({"code": "X", "basis": "traded", "rate": Decimal("0.00001")},)),
        )


def test_guangdong_demand_response_pays_the_response_and_penalises_under_delivery():
    # hourly awards of 10 MWh at 2,250 CNY/MWh; load against the baseline
    inputs = ResponseIntervals(
        baseline_mwh=[50.0, 50.0, 50.0, 50.0],
        load_mwh=[38.0, 46.0, 52.0, 50.0],
        award_mwh=[10.0, 10.0, 10.0, 0.0],
        price=[2250.0, 2250.0, 2250.0, 2250.0],
    )
    lines = engine.settle_response(inputs, CN_DR, Direction.UP)
    # responses 12, 4, -2, (no award): paid 12 x 2,250, 4 x 2,250, 0, 0
    assert lines["response_payment"].tolist() == [2_700_000, 900_000, 0, 0]
    # below 50 %: (5 - 4) x 2,250 x 0.5 = 1,125; (5 - 0) x 2,250 x 0.5 = 5,625
    assert lines["under_delivery_penalty"].tolist() == [0, -112_500, -562_500, 0]
    filled = engine.settle_response(inputs, CN_DR, Direction.DOWN)
    assert filled["response_payment"].tolist() == [0, 0, 450_000, 0]


def test_response_cap_and_direction_are_checked():
    capped = CN_DR.model_copy(
        update={"settlement": CN_DR.settlement.model_copy(update={"response_cap": Decimal("1.2")})}
    )
    lines = engine.settle_response(
        ResponseIntervals([50.0], [35.0], [10.0], [100.0]), capped, Direction.UP
    )
    assert lines["response_payment"].tolist() == [120_000]
    with pytest.raises(ValueError, match="direction must be 'up' or 'down'"):
        engine.settle_response(ResponseIntervals([1.0], [1.0], [1.0], [1.0]), CN_DR, Direction.BOTH)
    with pytest.raises(ValueError, match="award_mwh must not be negative"):
        engine.settle_response(ResponseIntervals([1.0], [1.0], [-1.0], [1.0]), CN_DR, Direction.UP)
