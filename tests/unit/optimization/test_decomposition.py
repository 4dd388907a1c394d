"""The decomposition for large portfolios (``openvpp.optimization.decomposition``) against the
monolithic LP on a small portfolio: within 0.1 %, a valid bound, every unit within its own
limits and the shared grid limit respected; exact without a limit; and the reduction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from openvpp.optimization.decomposition import DecompositionOptions, optimize_portfolio
from openvpp.optimization.reduction import cluster_storage, reduce_portfolio
from openvpp.optimization.schedule import ScheduleMarket, optimize_schedule
from openvpp.optimization.units import FlexUnit, StorageUnit, Unit
from openvpp.resources.models.battery import BatterySpec, soc_trajectory

F = NDArray[np.float64]
DEMO = Path(__file__).parents[3] / "src/openvpp/demo/epftoolbox_PJM_2018-12-11_24.csv"
T, DT = 96, 0.25


def prices() -> F:
    rows = DEMO.read_text().splitlines()[1:25]
    return np.repeat([float(r.split(",")[1]) for r in rows], 4)


def portfolio(n: int, seed: int) -> list[Unit]:
    """Batteries of 1, 2 and 4 hours with scattered sizes, efficiencies, bands, states and
    degradation costs (half with an end target), and 10 % curtailable PV."""
    rng = np.random.default_rng(seed)
    hours = (np.arange(T) + 0.5) * DT
    sun = np.clip(np.sin(np.pi * (hours - 6) / 12), 0, None)
    units: list[Unit] = []
    n_pv = n // 10
    for _ in range(n - n_pv):
        p = rng.uniform(0.05, 0.5)
        energy = p * rng.choice([1.0, 2.0, 4.0]) * rng.uniform(0.8, 1.2)
        eta = rng.uniform(0.9, 0.97)
        lo, hi = rng.uniform(0.0, 0.15), rng.uniform(0.85, 1.0)
        spec = BatterySpec(
            energy, p * rng.uniform(0.7, 1.0), p, eta, eta, lo, hi, float(rng.choice([0.0, 0.001]))
        )
        e0 = energy * rng.uniform(lo, hi)
        units.append(
            StorageUnit(
                spec,
                e0,
                end_energy_mwh=e0 if rng.random() < 0.5 else None,
                degradation_cost=rng.uniform(0.5, 5.0),
            )
        )
    for _ in range(n_pv):
        forecast = rng.uniform(0.2, 2.0) * sun * rng.uniform(0.6, 1.0, T)
        units.append(FlexUnit.from_bounds(np.zeros(T), forecast, DT))
    return units


def limited_market(units: list[Unit], share: float) -> ScheduleMarket:
    """Grid limits at ``share`` of the unconstrained schedule's peaks."""
    free = optimize_schedule(units, ScheduleMarket(prices(), DT))
    return ScheduleMarket(
        prices(),
        DT,
        export_max_mw=np.full(T, share * free.total_mw.max()),
        import_max_mw=np.full(T, share * -free.total_mw.min()),
    )


def assert_feasible(units: list[Unit], result: object, market: ScheduleMarket) -> None:
    power = result.power_mw  # type: ignore[attr-defined]
    energy = result.energy_mwh  # type: ignore[attr-defined]
    for i, u in enumerate(units):
        if isinstance(u, StorageUnit):
            assert power[i].min() >= -u.spec.p_charge_max_mw - 1e-7
            assert power[i].max() <= u.spec.p_discharge_max_mw + 1e-7
            e = soc_trajectory(u.spec, power[i], u.energy0_mwh, DT)
            assert e.min() >= u.e_min_mwh - 1e-6 and e.max() <= u.e_max_mwh + 1e-6
            # stored energy no lower than the battery model's for the reported power
            assert energy[i, -1] <= e[-1] + 1e-6
        else:
            assert (power[i] >= u.p_min_mw - 1e-7).all() and (power[i] <= u.p_max_mw + 1e-7).all()
    total = power.sum(axis=0)
    assert market.export_max_mw is not None and market.import_max_mw is not None
    assert total.max() <= market.export_max_mw.max() + 1e-6
    assert total.min() >= -market.import_max_mw.max() - 1e-6


@pytest.mark.parametrize("seed", [1, 2])
def test_decomposition_is_within_a_tenth_of_a_percent_of_the_monolithic_lp(seed: int) -> None:
    units = portfolio(40, seed)
    market = limited_market(units, 0.6)
    mono = optimize_schedule(units, market)
    result = optimize_portfolio(
        units, market, options=DecompositionOptions(clusters=8, direct_max_units=0)
    )
    s = result.schedule
    assert s.objective >= mono.objective * (1 - 1e-3)
    assert s.objective <= mono.objective + 1e-6  # cannot beat the optimum
    assert result.upper_bound >= mono.objective - 1e-6  # a valid bound
    assert result.gap <= 1e-3
    assert s.status == "Converged"
    assert_feasible(units, s, market)
    assert s.slacks.grid_export_mw.max() <= 1e-6 and s.slacks.grid_import_mw.max() <= 1e-6
    # the limit binds: without it the portfolio would earn more
    free = optimize_schedule(units, ScheduleMarket(prices(), DT))
    assert free.objective > mono.objective * (1 + 1e-3)


def test_decomposition_without_a_limit_is_the_sum_of_the_units_optima() -> None:
    units = portfolio(20, 5)
    market = ScheduleMarket(prices(), DT)
    mono = optimize_schedule(units, market)
    result = optimize_portfolio(units, market, options=DecompositionOptions(direct_max_units=0))
    assert result.schedule.objective == pytest.approx(mono.objective, rel=1e-9)
    assert result.gap <= 1e-9
    assert result.n_mixed_units == 0


def test_decomposition_keeps_the_input_order_and_switches_at_negative_prices() -> None:
    units = portfolio(20, 7)
    price = prices() - 35.0  # some prices below zero: batteries get switches
    free = optimize_schedule(units, ScheduleMarket(price, DT))
    market = ScheduleMarket(
        price,
        DT,
        export_max_mw=np.full(T, 0.5 * free.total_mw.max()),
        import_max_mw=np.full(T, 0.7 * -free.total_mw.min()),
    )
    mono = optimize_schedule(units, market)
    result = optimize_portfolio(
        units, market, options=DecompositionOptions(clusters=5, direct_max_units=0)
    )
    s = result.schedule
    assert s.objective >= mono.objective * (1 - 1e-3) - 1e-6
    assert result.upper_bound >= mono.objective - 1e-5
    assert_feasible(units, s, market)
    assert np.minimum(s.charge_mw, s.discharge_mw).max() <= 1e-6
    # row i is unit i: the PV rows (the last two) never withdraw
    assert s.power_mw[-2:].min() >= -1e-9


def test_small_portfolios_are_solved_as_one_model() -> None:
    units = portfolio(30, 3)
    market = limited_market(units, 0.7)
    result = optimize_portfolio(units, market)
    assert result.rounds == 0 and result.gap <= 1e-4
    assert result.schedule.objective == pytest.approx(
        optimize_schedule(units, market).objective, rel=1e-9
    )


def test_decomposition_refuses_risk_aversion() -> None:
    units = portfolio(10, 1)
    with pytest.raises(ValueError, match="cvar_weight"):
        optimize_portfolio(units, ScheduleMarket(np.ones((2, T)), DT, cvar_weight=0.5))


def test_reduction_of_proportional_batteries_is_exact() -> None:
    spec = BatterySpec(2.0, 1.0, 1.0, 0.95, 0.95, 0.1, 0.9)
    members = [
        StorageUnit(
            BatterySpec(2.0 * k, 1.0 * k, 1.0 * k, 0.95, 0.95, 0.1, 0.9),
            1.0 * k,
            degradation_cost=2.0,
        )
        for k in (0.5, 1.0, 3.0)
    ]
    labels = cluster_storage(members, 1)
    assert (labels == 0).all()
    virtual, _ = reduce_portfolio(members, [], labels)
    assert virtual[0].spec.energy_mwh == pytest.approx(9.0)
    market = ScheduleMarket(prices(), DT)
    together = optimize_schedule(virtual, market).objective
    apart = optimize_schedule(members, market).objective
    assert together == pytest.approx(apart, rel=1e-9)
    assert spec.energy_mwh == 2.0


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    export_share=st.floats(0.2, 1.2),
    import_share=st.floats(0.2, 1.2),
    shift=st.floats(-60, 10),
)
def test_decomposition_bound_is_valid_and_schedule_feasible_on_random_portfolios(
    seed: int, export_share: float, import_share: float, shift: float
) -> None:
    rng = np.random.default_rng(seed)
    t = 24
    price = prices()[::4] + shift + rng.normal(0, 10, t)
    units: list[Unit] = []
    for _ in range(6):
        p = rng.uniform(0.1, 1.0)
        spec = BatterySpec(p * rng.uniform(1, 4), p, p, rng.uniform(0.85, 1), 0.95, 0.1, 0.9)
        units.append(
            StorageUnit(
                spec, spec.energy_mwh * rng.uniform(0.1, 0.9), degradation_cost=rng.uniform(0, 5)
            )
        )
    units.append(FlexUnit.from_bounds(np.zeros(t), rng.uniform(0, 2, t), 1.0))
    free = optimize_schedule(units, ScheduleMarket(price, 1.0))
    market = ScheduleMarket(
        price,
        1.0,
        export_max_mw=np.full(t, export_share * max(free.total_mw.max(), 0.1)),
        import_max_mw=np.full(t, import_share * max(-free.total_mw.min(), 0.1)),
    )
    mono = optimize_schedule(units, market)
    result = optimize_portfolio(
        units, market, options=DecompositionOptions(clusters=2, direct_max_units=0, max_rounds=4)
    )
    s = result.schedule
    scale = max(abs(mono.objective), 1.0)
    assert result.upper_bound >= mono.objective - 1e-6 * scale  # the bound is valid
    # neither beats the optimum by more than the monolithic MILP's own gap
    assert s.objective <= mono.objective + (mono.mip_gap + 1e-6) * scale
    if s.status == "Converged":
        assert s.objective >= mono.objective - 1e-3 * abs(result.upper_bound) - 1e-6 * scale
    assert np.minimum(s.charge_mw, s.discharge_mw).max() <= 1e-6
    for i, u in enumerate(units):
        if isinstance(u, StorageUnit):
            e = soc_trajectory(u.spec, s.power_mw[i], u.energy0_mwh, 1.0)
            assert e.min() >= u.e_min_mwh - 1e-6 and e.max() <= u.e_max_mwh + 1e-6
    # the limit holds unless the monolithic optimum itself needs the grid slack
    if not mono.slacks.used:
        assert s.slacks.grid_export_mw.max() <= 1e-6 and s.slacks.grid_import_mw.max() <= 1e-6
