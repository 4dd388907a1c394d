"""Imbalance and real-time prices: alignment, synthetic model, exact settlement."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.markets.calendar import delivery_intervals
from openvpp.markets.imbalance import (
    ImbalanceModel,
    ImbalancePrices,
    PriceScheme,
    align_to_grid,
    imbalance_prices,
    settle_deviations,
    synthetic_imbalance_prices,
    system_imbalance,
)
from openvpp.markets.presets import load_presets

TICK = Decimal("0.01")
PMIN, PMAX = -50_000, 400_000
DUAL = ImbalanceModel(base_spread=10.0, slope=0.1, scheme=PriceScheme.DUAL)
SINGLE = replace(DUAL, scheme=PriceScheme.SINGLE)


def _prices(da: list[int], imb: list[float], model: ImbalanceModel = DUAL) -> ImbalancePrices:
    return imbalance_prices(da, imb, model, price_tick=TICK, price_min=PMIN, price_max=PMAX)


# ---------------------------------------------------------------------------- price formula


def test_hand_computed_prices() -> None:
    # DA 50.00 EUR/MWh; imbalance +100 MW (short): 50 + (10 + 0.1 x 100) = 70.00
    # -200 MW (long): 50 - (10 + 20) = 20.00; 0 MW: DA
    da = [5000, 5000, 5000]
    imb = [100.0, -200.0, 0.0]
    single = _prices(da, imb, SINGLE)
    assert single.single.tolist() == [7000, 2000, 5000]
    assert single.short.tolist() == single.long.tolist() == [7000, 2000, 5000]
    dual = _prices(da, imb, DUAL)
    # short system: the long side helps (DA), the short side pays 70; long system mirrored
    assert dual.short.tolist() == [7000, 5000, 5000]
    assert dual.long.tolist() == [5000, 2000, 5000]


def test_prices_are_clipped_and_rounded_to_the_tick() -> None:
    p = imbalance_prices(
        [390_000, -49_000], [1e6, -1e6], DUAL, price_tick=TICK, price_min=PMIN, price_max=PMAX
    )
    assert p.single.tolist() == [PMAX, PMIN]
    half = ImbalanceModel(base_spread=0.005, slope=0.0)  # half a tick: rounds to even (0)
    assert _prices([100], [5.0], half).single.tolist() == [100]
    three_halves = ImbalanceModel(base_spread=0.015, slope=0.0)
    assert _prices([100], [5.0], three_halves).single.tolist() == [102]


def test_validation() -> None:
    with pytest.raises(ValueError, match="persistence"):
        ImbalanceModel(persistence=1.0)
    with pytest.raises(ValueError, match="slope"):
        ImbalanceModel(slope=-1)
    with pytest.raises(ValueError, match="clearing limits"):
        _prices([PMAX + 1], [0.0])
    with pytest.raises(ValueError, match="shape"):
        _prices([1, 2], [0.0])
    with pytest.raises(ValueError, match="whole ticks"):
        _prices([1.5], [0.0])  # type: ignore[list-item]


_da = st.lists(st.integers(PMIN, PMAX), min_size=1, max_size=50)
_model = st.builds(
    ImbalanceModel,
    persistence=st.floats(-0.99, 0.99),
    volatility_mw=st.floats(0, 2000),
    initial_mw=st.floats(-3000, 3000),
    base_spread=st.floats(0, 500),
    slope=st.floats(0, 5),
    scheme=st.sampled_from(list(PriceScheme)),
)


@settings(max_examples=200, deadline=None)
@given(_da, _model, st.integers(0, 2**32))
def test_synthetic_prices_properties(da: list[int], model: ImbalanceModel, seed: int) -> None:
    kw = {"seed": seed, "price_tick": TICK, "price_min": PMIN, "price_max": PMAX}
    a = synthetic_imbalance_prices(da, model, **kw)  # type: ignore[arg-type]
    b = synthetic_imbalance_prices(da, model, **kw)  # type: ignore[arg-type]
    for x in (a.short, a.long, a.single):
        assert np.all((x >= PMIN) & (x <= PMAX))
    assert np.array_equal(a.short, b.short) and np.array_equal(a.long, b.long)
    assert np.array_equal(a.system_mw, b.system_mw)
    d = np.array(da)
    if model.scheme is PriceScheme.DUAL:
        assert np.all(a.short >= d) and np.all(d >= a.long)
        # the side that worsens the system gets the single price
        short_sys = a.system_mw > 0
        assert np.array_equal(a.short[short_sys], a.single[short_sys])
        assert np.array_equal(a.long[~short_sys], a.single[~short_sys])
    else:
        assert np.array_equal(a.short, a.long)
    # the price moves in the direction of the system imbalance
    assert np.all(np.sign(a.single - d) * np.sign(a.system_mw) >= 0)
    flat = replace(model, base_spread=0.0, slope=0.0)
    s1 = synthetic_imbalance_prices(da, replace(flat, scheme=PriceScheme.SINGLE), **kw)  # type: ignore[arg-type]
    s2 = synthetic_imbalance_prices(da, replace(flat, scheme=PriceScheme.DUAL), **kw)  # type: ignore[arg-type]
    for x in (s1.short, s1.long, s2.short, s2.long):
        assert np.array_equal(x, d)


def test_ar1_matches_the_recursion_and_is_seeded() -> None:
    model = ImbalanceModel(persistence=0.93, volatility_mw=120.0, initial_mw=400.0)
    n = 1000  # spans several filter blocks
    x = system_imbalance(n, model, seed=7)
    shocks = 120.0 * np.random.default_rng(7).standard_normal(n)
    ref = np.empty(n)
    prev = 400.0
    for t in range(n):
        prev = 0.93 * prev + shocks[t]
        ref[t] = prev
    np.testing.assert_allclose(x, ref, rtol=1e-9, atol=1e-8)
    assert np.array_equal(x, system_imbalance(n, model, seed=7))
    assert not np.array_equal(x, system_imbalance(n, model, seed=8))
    assert system_imbalance(0, model, seed=1).size == 0
    quiet = replace(model, volatility_mw=0.0, initial_mw=100.0, persistence=0.5)
    assert system_imbalance(3, quiet, seed=1).tolist() == [50.0, 25.0, 12.5]


# ---------------------------------------------------------------------------------- alignment


def _grid(day: date = date(2026, 6, 1), tz_market: str = "EU-SDAC") -> list:  # type: ignore[type-arg]
    market = load_presets()[tz_market]
    return delivery_intervals(market.product("QH"), day)


def test_five_minute_prices_average_to_quarter_hours() -> None:
    grid = _grid()
    start = pd.Timestamp(grid[0].start_utc)
    idx = pd.date_range(start, periods=len(grid) * 3, freq="5min")
    values = np.arange(idx.size, dtype=float)
    out = align_to_grid(pd.Series(values, index=idx), grid)
    np.testing.assert_allclose(out, values.reshape(-1, 3).mean(axis=1))


def test_hourly_prices_repeat_and_dst_day_works() -> None:
    grid = _grid(date(2026, 10, 25))  # 100 quarter-hours
    start = pd.Timestamp(grid[0].start_utc)
    idx = pd.date_range(start, periods=25, freq="60min")
    values = np.arange(25, dtype=float) * 10.0
    series = pd.Series(values, index=idx.tz_convert("Europe/Berlin"))
    out = align_to_grid(series, grid)
    np.testing.assert_allclose(out, np.repeat(values, 4))
    assert series.iloc[0] == 0.0


def test_gaps_and_bad_indexes_are_refused() -> None:
    grid = _grid()
    start = pd.Timestamp(grid[0].start_utc)
    idx = pd.date_range(start, periods=len(grid) * 3, freq="5min")
    full = pd.Series(1.0, index=idx)
    with pytest.raises(ValueError, match="not covered"):
        align_to_grid(full.drop(idx[10]), grid)
    with pytest.raises(ValueError, match="not covered"):
        align_to_grid(full.iloc[:-1], grid)
    with pytest.raises(ValueError, match="not covered"):
        align_to_grid(full.iloc[1:], grid)
    nan = full.copy()
    nan.iloc[4] = np.nan
    with pytest.raises(ValueError, match=re.escape(grid[1].start_utc.isoformat())):
        align_to_grid(nan, grid)
    with pytest.raises(ValueError, match="duplicate"):
        align_to_grid(pd.concat([full, full.iloc[:1]]), grid)
    with pytest.raises(ValueError, match="tz-aware"):
        align_to_grid(full.tz_localize(None), grid)
    with pytest.raises(ValueError, match="overlap"):
        align_to_grid(full, grid, source_period_min=10)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-500, 4000), min_size=288, max_size=288))
def test_aggregation_preserves_the_time_weighted_mean(values: list[float]) -> None:
    grid = _grid()[:96]
    idx = pd.date_range(pd.Timestamp(grid[0].start_utc), periods=288, freq="5min")
    out = align_to_grid(pd.Series(values, index=idx), grid)
    assert out.mean() == pytest.approx(np.mean(values), rel=1e-9, abs=1e-7)
    np.testing.assert_allclose(out, np.reshape(values, (-1, 3)).mean(axis=1), atol=1e-7)


# --------------------------------------------------------------------------------- settlement


def test_settlement_hand_case() -> None:
    # short 70.00 / long 50.00 EUR/MWh
    p = _prices([5000, 5000, 5000, 5000], [100.0, 100.0, 100.0, -200.0])
    amounts = settle_deviations([1.5, -0.25, 0.0, 0.0004], p, price_tick=TICK)
    # +1.5 MWh long at DA 50: receives 75.00; -0.25 MWh short pays 70 x 0.25 = 17.50;
    # 0.0004 MWh rounds to 0 kWh
    assert amounts.tolist() == [7500, -1750, 0, 0]
    q = _prices([1001, 1001], [0.0, 0.0])
    # 0.001 MWh x 10.01 EUR/MWh = 1.001 cents -> 1; 0.0015 MWh rounds to 2 kWh (half even) -> 2.002
    assert settle_deviations([0.001, 0.0015], q, price_tick=TICK).tolist() == [1, 2]
    half = _prices([50, 150], [0.0, 0.0])  # 0.50 and 1.50 EUR/MWh x 0.001 MWh = 0.05 / 0.15 cent
    assert settle_deviations([0.01, 0.01], half, price_tick=TICK).tolist() == [0, 2]


def test_settlement_validation() -> None:
    p = _prices([5000], [0.0])
    with pytest.raises(ValueError, match="shape"):
        settle_deviations([1.0, 2.0], p, price_tick=TICK)
    with pytest.raises(ValueError, match="finite"):
        settle_deviations([np.nan], p, price_tick=TICK)
    with pytest.raises(ValueError, match="too large"):
        settle_deviations([1e15], p, price_tick=TICK)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-(10**6), 10**6), st.integers(PMIN, PMAX), st.integers(PMIN, PMAX)),
        min_size=1,
        max_size=20,
    )
)
def test_settlement_is_exact_against_decimal(rows: list[tuple[int, int, int]]) -> None:
    kwh, short, long = (np.array(c) for c in zip(*rows, strict=True))
    prices = ImbalancePrices(
        short=short,
        long=long,
        single=short,
        day_ahead=short,
        system_mw=np.zeros(short.size),
        scheme=PriceScheme.DUAL,
    )
    dev = kwh / 1000.0
    out = settle_deviations(dev, prices, price_tick=TICK)
    for k, s, lg, amount in zip(kwh, short, long, out, strict=True):
        price = Decimal(int(lg if k > 0 else s)) * TICK
        exact = Decimal(int(k)) / 1000 * price / Decimal("0.01")
        assert amount == int(exact.quantize(Decimal(1), rounding="ROUND_HALF_EVEN"))
    assert np.array_equal(dev, kwh / 1000.0)  # input not mutated
