"""Bid curves coupled across intervals (``openvpp.optimization.coupled``) and the price paths
they are drawn from (``openvpp.optimization.bids.path_scenarios``): the LP against the
deterministic optimum, the awards it assumes against the curves' step semantics, the flat
extension beyond the scenarios, what a curve earns over a price-taking bid, deliverable
awards when correcting is dear, baselines, bad input; the paths' marginals, correlation and
reproducibility; hypothesis properties over random scenario sets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.stats import spearmanr

from openvpp.aggregation.engine import Flex
from openvpp.markets.presets import load_presets
from openvpp.optimization.bids import path_scenarios, quantile_scenarios
from openvpp.optimization.coupled import coupled_curves
from openvpp.optimization.schedule import ScheduleMarket, optimize_schedule
from openvpp.optimization.units import FlexUnit, StorageUnit
from openvpp.resources.models.battery import BatterySpec

F = NDArray[np.float64]
SDAC = load_presets()["EU-SDAC"]
SPEC = BatterySpec(4.0, 2.0, 2.0, 0.95, 0.95, 0.05, 0.95)  # the demo battery
LEVELS = (0.1, 0.5, 0.9)


def battery(energy0: float = 2.0) -> list[StorageUnit]:
    return [StorageUnit(SPEC, energy0, end_energy_mwh=2.0)]


def day_prices(t: int = 24) -> F:
    """A day's swing with a drift, so that no two hours tie [currency/MWh]."""
    return 40.0 + 8.0 * np.sin((np.arange(t) - 6) / t * 2 * np.pi) + 7.3 * np.arange(t) / t


def quantiles(t: int = 24, width: float = 3.0) -> F:
    p50 = day_prices(t)
    return np.vstack([p50 - width, p50, p50 + width])


def uncertain(n: int, seed: int, t: int = 24) -> F:
    """Paths as uncertain as the day's own swing, hours loosely tied: a curve that responds
    to the price earns more than any price-taking bid."""
    return path_scenarios(quantiles(t, width=8.0), LEVELS, n, correlation=0.5, seed=seed)


def energy_path(units: list[StorageUnit], net_mw: F, dt_h: float = 1.0) -> F:
    """Stored energy after each interval of a net schedule [MWh], without limits."""
    u = units[0]
    charge, discharge = np.clip(-net_mw, 0, None), np.clip(net_mw, 0, None)
    step = charge * u.spec.eta_charge - discharge / u.spec.eta_discharge
    return u.energy0_mwh + np.cumsum(step * dt_h)


def test_one_scenario_gives_the_optimal_schedule_bid_at_any_price() -> None:
    units = battery()
    r = coupled_curves(units, day_prices()[None, :], 1.0, market=SDAC)
    p_ticks = r.scenarios[0]  # the prices on the market's ticks
    best = optimize_schedule(units, ScheduleMarket(p_ticks, 1.0))
    assert np.allclose(r.awarded_mw[0], best.total_mw, atol=1e-6)
    assert r.expected_revenue == pytest.approx(float(p_ticks @ best.total_mw), rel=1e-6)
    assert r.expected_recourse_mwh == pytest.approx(0.0, abs=1e-9)
    # one level per interval, extended to the price limits: price-taking whatever the price
    for shifted in (p_ticks, p_ticks - 30.0, p_ticks + 30.0):
        assert np.allclose(r.curves.net_at(shifted), best.total_mw, atol=1e-6)


def test_the_curves_award_what_the_lp_assumed_at_every_scenario_price() -> None:
    units = battery()
    scen = uncertain(30, seed=4)
    r = coupled_curves(units, scen, 1.0, market=SDAC)
    assert r.status == "Optimal"
    assert np.all(np.diff(r.curves.net_mw, axis=1) >= 0)  # monotone: sell more when dearer
    for s in range(scen.shape[0]):
        assert np.allclose(r.curves.net_at(r.scenarios[s]), r.awarded_mw[s], atol=1e-9)
    # within the battery's power
    assert np.all(r.curves.net_mw >= -SPEC.p_charge_max_mw - 1e-9)
    assert np.all(r.curves.net_mw <= SPEC.p_discharge_max_mw + 1e-9)
    # and the curves respond to the price: not every interval is a single quantity
    assert np.any(np.ptp(r.curves.net_mw, axis=1) > 0.1)


def test_prices_beyond_every_scenario_get_the_awards_of_the_extreme_levels() -> None:
    """A day below every scenario sells and buys what the lowest level does (without the
    extension the curves would still buy there but sell nothing)."""
    units = battery()
    scen = path_scenarios(quantiles(), LEVELS, 30, correlation=0.9, seed=1)
    r = coupled_curves(units, scen, 1.0, market=SDAC)
    c = r.curves
    assert np.all(c.prices[:, 0] == float(SDAC.price_limits.min))
    assert np.all(c.prices[:, -1] == float(SDAC.price_limits.max))
    low, high = r.scenarios.min(axis=0), r.scenarios.max(axis=0)
    assert np.allclose(c.net_at(low - 25.0), c.net_at(low))
    assert np.allclose(c.net_at(high + 25.0), c.net_at(high))
    # without a market there are no limits to extend to: nothing is sold below the lowest level
    bare = coupled_curves(units, scen, 1.0)
    assert np.all(bare.curves.net_at(low - 25.0) <= 1e-9)


def test_price_levels_bound_the_orders_and_one_level_is_the_best_price_taking_bid() -> None:
    units = battery()
    scen = uncertain(40, seed=2)
    every = coupled_curves(units, scen, 1.0, market=SDAC)
    eight = coupled_curves(units, scen, 1.0, market=SDAC, max_levels=8)
    one = coupled_curves(units, scen, 1.0, market=SDAC, max_levels=1)
    # eight levels and the two limits at most
    assert all(len(c.prices) <= 10 for c in eight.curves.curves)
    assert all(len(set(c.net_mw)) == 1 for c in one.curves.curves)  # one quantity: price-taking
    # the flat curve is one of the curves the finer LPs could have chosen
    assert every.objective >= one.objective - 1e-6
    assert eight.objective >= one.objective - 1e-6
    # and under these scenarios responding to the price is worth something
    assert every.objective > one.objective + 1.0


def test_dear_corrections_make_every_scenarios_award_deliverable() -> None:
    units = battery()
    scen = path_scenarios(quantiles(width=6.0), LEVELS, 24, correlation=0.8, seed=3)
    r = coupled_curves(units, scen, 1.0, market=SDAC, recourse_spread=1_000.0)
    assert r.expected_recourse_mwh == pytest.approx(0.0, abs=1e-6)
    u = units[0]
    for award in r.awarded_mw:
        e = energy_path(units, award)
        assert np.all(e >= SPEC.soc_min * SPEC.energy_mwh - 1e-6)
        assert np.all(e <= SPEC.soc_max * SPEC.energy_mwh + 1e-6)
        assert e[-1] >= (u.end_energy_mwh or 0.0) - 1e-6


def test_a_baseline_is_not_traded_only_the_change_from_it() -> None:
    one = np.ones(24)
    rigid = Flex(one, one, one, np.cumsum(one), np.cumsum(one), 0 * one, 0 * one)
    scen = path_scenarios(quantiles(), LEVELS, 10, seed=0)
    r = coupled_curves([FlexUnit.from_flex(rigid)], scen, 1.0, market=SDAC, baseline_mw=one)
    assert np.allclose(r.curves.net_mw, 0.0)
    assert r.expected_revenue == pytest.approx(0.0, abs=1e-9)


def test_quarter_hours_and_a_flexible_envelope() -> None:
    t = 96
    lo, hi = -1.0 * np.ones(t), 1.5 * np.ones(t)
    cum = np.arange(1, t + 1) * 0.25
    flex = Flex(np.zeros(t), lo, hi, cum * -1.0, cum * 1.5, np.full(t, 0.5), np.full(t, 0.5))
    scen = path_scenarios(quantiles(t), LEVELS, 12, correlation=0.9**0.25, seed=5)
    r = coupled_curves([FlexUnit.from_flex(flex)], scen, 0.25, market=SDAC, max_levels=4)
    assert len(r.curves) == t and r.status == "Optimal"
    assert np.all(r.curves.net_mw >= -1.0 - 1e-9) and np.all(r.curves.net_mw <= 1.5 + 1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scenarios": np.zeros(24)}, "scenarios"),
        ({"scenarios": np.full((2, 24), np.nan)}, "scenarios"),
        ({"recourse_spread": -1.0}, "recourse_spread"),
        ({"max_levels": 0}, "max_levels"),
        ({"baseline_mw": np.zeros(23)}, "baseline_mw"),
        ({"dt_h": 0.0}, "dt_h"),
        ({"weights": np.array([1.0, -1.0])}, "weights"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict[str, object], message: str) -> None:
    two = np.vstack([day_prices(), day_prices() + 1])
    args: dict[str, object] = {"scenarios": two, "dt_h": 1.0}
    args.update(kwargs)
    scen, dt_h = args.pop("scenarios"), args.pop("dt_h")
    with pytest.raises(ValueError, match=message):
        coupled_curves(battery(), scen, dt_h, **args)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ price paths


def test_paths_keep_each_intervals_quantiles() -> None:
    q = quantiles(24, width=5.0)
    paths = path_scenarios(q, LEVELS, 4000, correlation=0.9, seed=0)
    assert paths.shape == (4000, 24)
    for level, row in zip(LEVELS, q, strict=True):
        below = (paths < row).mean(axis=0)
        assert np.allclose(below, level, atol=0.03)


def test_path_correlation_from_comonotone_to_independent() -> None:
    q = quantiles(24)
    same = path_scenarios(q, LEVELS, 50, correlation=1.0, seed=0)
    comonotone = quantile_scenarios(q, LEVELS, 50)
    # each path keeps one level all day: its rank among the paths never changes
    ranks = np.argsort(np.argsort(same, axis=0), axis=0)
    assert np.all(ranks == ranks[:, :1])
    assert same.min() >= comonotone.min() - 3.0 * 5 and same.max() <= comonotone.max() + 15.0
    free = path_scenarios(q, LEVELS, 2000, correlation=0.0, seed=0)
    tied = path_scenarios(q, LEVELS, 2000, correlation=0.9, seed=0)
    lag = [spearmanr(p[:, 5], p[:, 6]).statistic for p in (free, tied)]
    assert abs(lag[0]) < 0.1 and lag[1] > 0.8


def test_paths_are_reproducible_antithetic_and_refuse_bad_input() -> None:
    q = quantiles(24)
    a = path_scenarios(q, LEVELS, 10, seed=7)
    assert np.array_equal(a, path_scenarios(q, LEVELS, 10, seed=7))
    assert not np.array_equal(a, path_scenarios(q, LEVELS, 10, seed=8))
    # pairs mirror each other about the median (the quantiles here are symmetric)
    assert np.allclose(a[:5] + a[5:], 2 * q[1])
    assert path_scenarios(q, LEVELS, 7, seed=7).shape == (7, 24)
    with pytest.raises(ValueError, match="n"):
        path_scenarios(q, LEVELS, 1)
    with pytest.raises(ValueError, match="correlation"):
        path_scenarios(q, LEVELS, 10, correlation=1.5)
    with pytest.raises(ValueError, match="levels"):
        path_scenarios(q, (0.5, 0.1, 0.9), 10)


# ------------------------------------------------------------------------------ properties


@settings(max_examples=25, deadline=None)
@given(
    s=st.integers(1, 6),
    t=st.integers(2, 8),
    energy0=st.floats(0.2, 3.8),
    spread=st.floats(0.0, 20.0),
    seed=st.integers(0, 2**16),
)
def test_curves_are_monotone_award_as_assumed_and_beat_price_taking(
    s: int, t: int, energy0: float, spread: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    scen = 40.0 + rng.normal(0.0, 10.0, (s, t))
    units = [StorageUnit(SPEC, energy0, end_energy_mwh=2.0)]
    r = coupled_curves(units, scen, 1.0, market=SDAC, recourse_spread=spread)
    flat = coupled_curves(units, scen, 1.0, market=SDAC, recourse_spread=spread, max_levels=1)
    assert np.all(np.diff(r.curves.net_mw, axis=1) >= 0)
    for k in range(s):
        assert np.allclose(r.curves.net_at(r.scenarios[k]), r.awarded_mw[k], atol=1e-9)
    assert r.objective >= flat.objective - 1e-6 * max(1.0, abs(flat.objective))
    assert r.expected_recourse_mwh >= 0
