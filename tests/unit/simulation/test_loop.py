"""The trading and dispatch loop on real PJM prices (the shipped sample), with forecasts given
directly so that its accounting can be checked exactly."""

from __future__ import annotations

from datetime import datetime, time
from importlib import resources as package_files
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from openvpp.forecasting.price.data import load_day_matrix
from openvpp.simulation.loop import DEMO_BATTERY, PriceDays, SimulationConfig, simulate
from openvpp.simulation.plant import BatteryPlant

SAMPLE = package_files.files("openvpp.demo").joinpath("epftoolbox_PJM_2018-12-11_24.csv")
NY = ZoneInfo("America/New_York")


def _days(n: int, *, perfect: bool) -> PriceDays:
    with package_files.as_file(SAMPLE) as path:
        dm = load_day_matrix(path)
    actual = dm.prices[-n:]
    # perfect foresight, or yesterday's prices (a naive forecast) with a +-15 % band
    p50 = actual if perfect else dm.prices[-n - 1 : -1]
    q = np.stack([p50 * 0.85, p50, p50 * 1.15], axis=-1)
    return PriceDays(dm.dates[-n:], actual, q)


def _plant(days: PriceDays, config: SimulationConfig, **kw: float) -> BatteryPlant:
    first = datetime.combine(pd.Timestamp(days.dates[0]).date(), time(), NY)
    return BatteryPlant(config.batteries, first, len(days.dates), soc0=config.end_soc, **kw)  # type: ignore[arg-type]


def _config(**kw: object) -> SimulationConfig:
    return SimulationConfig(market="US-ISO-DA", product="H", **kw)  # type: ignore[arg-type]


def test_with_perfect_forecasts_and_an_exact_twin_the_loop_reaches_the_optimum() -> None:
    days = _days(3, perfect=True)
    config = _config(tracking_noise=0.0, fault_rate=0.0)
    result = simulate(days, config, _plant(days, config, tracking_noise=0.0))
    s = result.summary()
    assert s["days"] == 3 and s["faults"] == 0
    # only the rounding of the schedule to 0.1 MW lots separates it from the optimum
    assert result.capture_ratio == pytest.approx(1.0, abs=0.03), s
    assert s["imbalance_mwh"] < 0.05 * s["awarded_mwh"], s
    assert s["perfect_foresight_revenue"] > 0


def test_a_naive_forecast_captures_less_and_a_fault_is_corrected_or_settled() -> None:
    days = _days(3, perfect=False)
    config = _config(fault_rate=1.0, seed=3)
    result = simulate(days, config, _plant(days, config, fault_rate=1.0, seed=3))
    s = result.summary()
    assert s["faults"] >= 3  # one per day at rate 1
    assert result.capture_ratio < 1.0
    # the faults leave deviations: settled at imbalance prices, partly traded intraday
    assert s["imbalance_mwh"] > 0 and s["intraday_mwh"] >= 0
    assert s["revenue"] == pytest.approx(
        s["day_ahead_revenue"] + s["intraday_revenue"] + s["imbalance_revenue"], abs=0.02
    )


def test_bid_curves_with_perfect_quantiles_are_awarded_the_optimum() -> None:
    days = _days(2, perfect=True)
    config = _config(strategy="curve", tracking_noise=0.0, fault_rate=0.0)
    result = simulate(days, config, _plant(days, config, tracking_noise=0.0))
    assert result.capture_ratio == pytest.approx(1.0, abs=0.05), result.summary()


def test_without_correction_nothing_is_traded_intraday() -> None:
    days = _days(2, perfect=False)
    config = _config(correction=False, seed=1)
    s = simulate(days, config, _plant(days, config, seed=1)).summary()
    assert s["intraday_mwh"] == 0 and s["corrected_mwh"] == 0


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="end_soc"):
        SimulationConfig(end_soc=1.5)
    with pytest.raises(ValueError, match="strategy"):
        SimulationConfig(strategy="guess")  # type: ignore[arg-type]
    assert DEMO_BATTERY.energy_mwh == 4.0
