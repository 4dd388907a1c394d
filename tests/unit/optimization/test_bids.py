"""Bid curves from a price response (``openvpp.optimization.bids``): scenario construction from
quantiles, monotone anchored curves for curtailable PV, a genset and an LP battery, the step
semantics, aggregation to hours, and property tests over random responses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.optimize import linprog

from openvpp.markets.presets import load_presets
from openvpp.optimization.bids import (
    BidCurveSet,
    aggregate_curves,
    bid_curves,
    quantile_scenarios,
    repair_monotone,
)

F = NDArray[np.float64]
SDAC = load_presets()["EU-SDAC"]


def daily_quantiles(t: int, spread: float = 30.0) -> F:
    base = 50.0 + 30.0 * np.sin(np.arange(t) / t * 2 * np.pi)
    return np.vstack([base - spread, base, base + 1.2 * spread])


def pv(forecast: F, subsidy: float) -> object:
    """Curtailable PV: sells its forecast [MW] when the price is at least -subsidy."""

    def response(p: F) -> F:
        return np.where(p >= -subsidy, forecast, 0.0)

    return response


def genset(capacity_mw: float, marginal_cost: float) -> object:
    def response(p: F) -> F:
        return np.where(p >= marginal_cost, capacity_mw, 0.0)

    return response


def battery(power_mw: float = 1.0, energy_mwh: float = 2.0, eta: float = 0.9, dt: float = 1.0):  # type: ignore[no-untyped-def]
    """Price response of a battery solved as an LP with HiGHS (scipy): maximise
    sum(p * (d - c)) * dt subject to the state of charge, ending at least where it started."""

    def response(p: F) -> F:
        t = p.shape[0]
        soc0 = energy_mwh / 2
        # variables: c (t), d (t), soc (t)
        cost = np.concatenate([p * dt, -p * dt, np.zeros(t)])
        a_eq = np.zeros((t, 3 * t))
        b_eq = np.zeros(t)
        for k in range(t):
            a_eq[k, 2 * t + k] = 1.0
            if k:
                a_eq[k, 2 * t + k - 1] = -1.0
            else:
                b_eq[k] = soc0
            a_eq[k, k] = -eta * dt
            a_eq[k, t + k] = dt / eta
        bounds = [(0, power_mw)] * (2 * t) + [(0, energy_mwh)] * (t - 1) + [(soc0, energy_mwh)]
        res = linprog(cost, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        assert res.status == 0
        x = res.x
        return np.asarray(x[t : 2 * t] - x[:t])

    return response


def assert_monotone(c: BidCurveSet) -> None:
    assert np.all(np.diff(c.prices, axis=1) >= 0)
    assert np.all(np.diff(c.net_mw, axis=1) >= -1e-12)
    sell = np.maximum(c.net_mw, 0)
    buy = np.maximum(-c.net_mw, 0)
    assert np.all(np.diff(sell, axis=1) >= -1e-12)  # supply curve
    assert np.all(np.diff(buy, axis=1) <= 1e-12)  # demand curve


# ------------------------------------------------------------------------------ scenarios


def test_quantile_scenarios_are_comonotone_and_include_the_median() -> None:
    q = daily_quantiles(24)
    s = quantile_scenarios(q, (0.1, 0.5, 0.9), n=21)
    assert s.shape == (21, 24)
    assert np.all(np.diff(s, axis=0) > 0)  # every interval rises with the level
    np.testing.assert_allclose(s[10], q[1])  # level 0.5
    # level 0.1 lies at scenario 2 (level 0.119): between p10 and p50
    assert np.all((s[2] > q[0]) & (s[2] < q[1]))


def test_quantile_scenarios_sort_crossing_quantiles_and_refuse_bad_levels() -> None:
    q = daily_quantiles(4)
    crossed = q[[1, 0, 2]]
    np.testing.assert_allclose(
        quantile_scenarios(crossed, (0.1, 0.5, 0.9), 5), quantile_scenarios(q, (0.1, 0.5, 0.9), 5)
    )
    with pytest.raises(ValueError, match="levels"):
        quantile_scenarios(q, (0.5, 0.1, 0.9))
    with pytest.raises(ValueError, match="quantiles"):
        quantile_scenarios(q, (0.1, 0.9))


# ------------------------------------------------------------------------------ curves


def test_pv_curve_sells_its_forecast_from_minus_subsidy() -> None:
    t = 24
    forecast = np.linspace(0, 6, t)
    q = daily_quantiles(t, spread=80.0)  # low scenarios reach far below -20
    c = bid_curves(quantile_scenarios(q, (0.1, 0.5, 0.9), 31), pv(forecast, 20.0))  # type: ignore[arg-type]
    assert_monotone(c)
    for k in range(t):
        cur = c.curve(k)
        for p, qty in cur.steps:
            assert qty == (forecast[k] if p >= -20.0 else 0.0)
    np.testing.assert_allclose(c.expected_mw, forecast)  # the median is above -20 everywhere


def test_market_rounds_prices_and_adds_the_limits() -> None:
    q = daily_quantiles(8)
    c = bid_curves(quantile_scenarios(q, (0.1, 0.5, 0.9), 7), genset(3.0, 45.0), market=SDAC)  # type: ignore[arg-type]
    ticks = c.prices / 0.1
    np.testing.assert_allclose(ticks, np.round(ticks), atol=1e-6)
    assert np.all(c.prices[:, 0] == -500.0)
    assert np.all(c.prices[:, -1] == 4000.0)
    assert np.all(c.net_mw[:, 0] == 0.0) and np.all(c.net_mw[:, -1] == 3.0)
    step = c.curve(0)
    assert all(qty == (3.0 if p >= 45.0 else 0.0) for p, qty in step.steps)


def test_battery_curve_is_monotone_and_anchored() -> None:
    t = 24
    s = quantile_scenarios(daily_quantiles(t), (0.1, 0.5, 0.9), 15)
    resp = battery()
    c = bid_curves(s, resp)
    assert_monotone(c)
    np.testing.assert_allclose(c.expected_mw, resp(np.median(s, axis=0)))
    np.testing.assert_allclose(c.net_at(c.anchor_price), c.expected_mw)
    # the battery buys in cheap hours and sells in dear ones: both sides appear
    assert (c.net_mw < -1e-6).any() and (c.net_mw > 1e-6).any()
    assert np.all(c.repair_mw >= 0)


def test_batched_response_gives_the_same_curves() -> None:
    s = quantile_scenarios(daily_quantiles(12), (0.1, 0.5, 0.9), 7)
    resp = battery()
    calls: list[tuple[int, ...]] = []

    def batch(p: F) -> F:
        calls.append(p.shape)
        return np.stack([resp(row) for row in p])

    one = bid_curves(s, resp, market=SDAC)
    many = bid_curves(s, batch, market=SDAC, batched=True)
    assert calls == [(7 + 3, 12)]  # anchor, scenarios, the two price limits
    np.testing.assert_array_equal(one.net_mw, many.net_mw)
    np.testing.assert_array_equal(one.expected_mw, many.expected_mw)
    with pytest.raises(ValueError, match="response"):
        bid_curves(s, lambda p: np.zeros(p.shape[-1]), batched=True)  # (T,) for (K, T)


def test_isotonic_repair_is_monotone_and_close_to_the_anchor() -> None:
    s = quantile_scenarios(daily_quantiles(12), (0.1, 0.5, 0.9), 9)
    c = bid_curves(s, battery(), repair="isotonic")
    assert_monotone(c)
    np.testing.assert_allclose(c.net_at(c.anchor_price), c.expected_mw, atol=1e-5)


def test_repair_anchored_keeps_the_anchor_and_fixes_violations() -> None:
    p = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    q = np.array([[2.0, -1.0, 0.0, -3.0, 4.0]])
    out = repair_monotone(p, q, np.array([2]))
    np.testing.assert_array_equal(out, [[-1.0, -1.0, 0.0, 0.0, 4.0]])
    with pytest.raises(ValueError, match="repair"):
        repair_monotone(p, q, np.array([2]), "bogus")  # type: ignore[arg-type]


def test_step_semantics_of_net_at() -> None:
    """Sell at the largest curve price <= P, buy at the smallest curve price >= P."""
    c = BidCurveSet(
        prices=np.array([[10.0, 20.0, 30.0]]),
        net_mw=np.array([[-2.0, 1.0, 3.0]]),
        anchor_price=np.array([20.0]),
        expected_mw=np.array([1.0]),
        repair_mw=np.zeros(1),
    )
    at = {p: float(c.net_at([p])[0]) for p in (5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0)}
    assert at == {5.0: -2.0, 10.0: -2.0, 15.0: 0.0, 20.0: 1.0, 25.0: 1.0, 30.0: 3.0, 35.0: 3.0}
    assert c.curve(0).sell_steps == [(10.0, 0.0), (20.0, 1.0), (30.0, 3.0)]
    assert c.curve(0).buy_steps == [(10.0, 2.0), (20.0, 0.0), (30.0, 0.0)]


def test_weights_and_mean_anchor() -> None:
    s = np.array([[10.0, 10.0], [20.0, 40.0], [30.0, 70.0]])
    c = bid_curves(s, genset(1.0, 25.0), weights=[0.0, 0.0, 1.0], anchor="mean")  # type: ignore[arg-type]
    np.testing.assert_allclose(c.anchor_price, [30.0, 70.0])
    c = bid_curves(s, genset(1.0, 25.0), weights=[1.0, 1.0, 2.0])  # type: ignore[arg-type]
    np.testing.assert_allclose(c.anchor_price, [20.0, 40.0])  # weighted median, lower on a tie
    with pytest.raises(ValueError, match="weights"):
        bid_curves(s, genset(1.0, 25.0), weights=[1.0, -1.0, 1.0])  # type: ignore[arg-type]


def test_bad_inputs_name_the_field() -> None:
    with pytest.raises(ValueError, match="scenarios"):
        bid_curves(np.zeros(3), genset(1.0, 0.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scenarios"):
        bid_curves(np.array([[np.nan, 1.0]]), genset(1.0, 0.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="response"):
        bid_curves(np.ones((2, 3)), lambda p: p[:2])
    with pytest.raises(ValueError, match="anchor"):
        bid_curves(np.ones((2, 3)), genset(1.0, 0.0), anchor="mode")  # type: ignore[arg-type]


def test_aggregate_quarter_hours_of_a_dst_day_to_hours() -> None:
    s = quantile_scenarios(daily_quantiles(92), (0.1, 0.5, 0.9), 9)
    c = bid_curves(s, battery(dt=0.25, energy_mwh=0.5), market=SDAC)
    h = aggregate_curves(c, 4)
    assert len(h) == 23
    assert_monotone(h)
    np.testing.assert_allclose(h.expected_mw, c.expected_mw.reshape(23, 4).mean(axis=1))
    np.testing.assert_allclose(h.net_at(h.anchor_price), h.expected_mw)
    with pytest.raises(ValueError, match="group"):
        aggregate_curves(c, 5)


# ------------------------------------------------------------------------------ properties


@st.composite
def responses(draw: st.DrawFn) -> tuple[F, object]:
    """Random scenarios and a random, generally non-monotone, intertemporal response."""
    t = draw(st.integers(1, 12))
    s = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scen = np.round(rng.normal(50, 40, (s, t)), draw(st.sampled_from([0, 1, 2])))
    a, b, w = rng.normal(0, 3, 3)
    thresholds = rng.normal(50, 40, t)

    def response(p: F) -> F:
        spread = (p - p.mean()) / (p.std() + 1.0)  # depends on the whole vector, like storage
        return np.asarray(
            a * np.sin(p / 17.0) + b * spread + w * (p >= thresholds) + rng.normal(0, 0.01)
        )

    return scen, response


@settings(max_examples=60, deadline=None)
@given(
    case=responses(), repair=st.sampled_from(["anchored", "isotonic"]), with_market=st.booleans()
)
def test_curves_are_monotone_for_random_responses(
    case: tuple[F, object], repair: str, with_market: bool
) -> None:
    scen, resp = case
    before = scen.copy()
    c = bid_curves(scen, resp, repair=repair, market=SDAC if with_market else None)  # type: ignore[arg-type]
    np.testing.assert_array_equal(scen, before)  # input not mutated
    assert_monotone(c)
    assert c.prices.shape == c.net_mw.shape
    tol = 1e-12 if repair == "anchored" else 1e-4 * (1 + np.abs(c.net_mw).max())
    np.testing.assert_allclose(c.net_at(c.anchor_price), c.expected_mw, atol=tol)
    for k in range(len(c)):  # collapsed curves have distinct ascending prices
        assert all(x < y for x, y in zip(c.curve(k).prices, c.curve(k).prices[1:], strict=False))
