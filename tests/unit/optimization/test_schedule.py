"""Schedule optimization (``openvpp.optimization.schedule``): the objective against an
independently written LP, no simultaneous charge and discharge with negative prices, the state
of charge within its band, soft constraints with their penalties reported, CVaR, a fixed
position, solver settings, the price response and the units' validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.optimize import linprog

from openvpp.aggregation.engine import Flex
from openvpp.optimization.lp import Penalties, ScheduleLp, SolverOptions
from openvpp.optimization.schedule import (
    ScheduleMarket,
    optimize_schedule,
    price_response,
)
from openvpp.optimization.units import FlexUnit, StorageUnit
from openvpp.resources.models.battery import BatterySpec, soc_trajectory

F = NDArray[np.float64]
DEMO = Path(__file__).parents[3] / "src/openvpp/demo/epftoolbox_PJM_2018-12-11_24.csv"


def pjm_quarter_hours() -> F:
    """The first day of the demo's real PJM prices, each hour repeated 4x [USD/MWh]."""
    rows = DEMO.read_text().splitlines()[1:25]
    return np.repeat([float(r.split(",")[1]) for r in rows], 4)


def battery(**kw: float) -> BatterySpec:
    args: dict[str, float] = {
        "energy_mwh": 2.0,
        "p_charge_max_mw": 1.0,
        "p_discharge_max_mw": 0.8,
        "eta_charge": 0.95,
        "eta_discharge": 0.93,
        "soc_min": 0.1,
        "soc_max": 0.9,
        "self_discharge_per_h": 0.002,
    }
    args.update(kw)
    return BatterySpec(**args)


def independent_lp(unit: StorageUnit, price: F, dt: float) -> float:
    """The same problem written differently: charge and discharge only, the stored energy
    as explicit discounted sums (dense rows), the end target hard; solved by scipy."""
    s, t = unit.spec, price.size
    keep = (1 - s.self_discharge_per_h) ** dt
    k = np.arange(t)
    # e_t = keep^(t+1) e0 + Σ_{j<=t} keep^(t-j) (eta_c c_j - d_j / eta_d) dt
    decay = np.tril(keep ** (k[:, None] - k[None, :]).clip(min=0)) * (k[:, None] >= k[None, :])
    a_energy = np.hstack((decay * s.eta_charge * dt, -decay * dt / s.eta_discharge))
    base = keep ** (k + 1) * unit.energy0_mwh
    lo = np.full(t, unit.e_min_mwh) - base
    hi = np.full(t, unit.e_max_mwh) - base
    if unit.end_energy_mwh is not None:
        lo[-1] = max(lo[-1], unit.end_energy_mwh - base[-1])
    cost = np.concatenate((price * dt, -price * dt)) + unit.degradation_cost * dt
    bounds = [(0, s.p_charge_max_mw)] * t + [(0, s.p_discharge_max_mw)] * t
    res = linprog(
        cost, A_ub=np.vstack((a_energy, -a_energy)), b_ub=np.concatenate((hi, -lo)), bounds=bounds
    )
    assert res.status == 0
    return float(-res.fun)


def test_objective_equals_an_independent_lp_on_a_battery_over_96_quarter_hours() -> None:
    price = pjm_quarter_hours()
    unit = StorageUnit(battery(), 1.0, end_energy_mwh=1.2, degradation_cost=3.0)
    result = optimize_schedule([unit], ScheduleMarket(price, 0.25))
    reference = independent_lp(unit, price, 0.25)
    assert result.status == "Optimal"
    assert result.n_binaries == 0  # every price above the degradation cost: an LP
    assert result.objective == pytest.approx(reference, rel=1e-6)
    assert result.objective > 0
    # the reported parts add up and the state follows the battery model
    revenue = float(price @ result.total_mw * 0.25)
    assert result.expected_revenue == pytest.approx(revenue, rel=1e-12)
    expected_energy = soc_trajectory(unit.spec, result.power_mw[0], 1.0, 0.25)
    np.testing.assert_allclose(result.energy_mwh[0], expected_energy, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(
    prices=st.lists(st.floats(-200, 300, allow_nan=False), min_size=24, max_size=24),
    eta=st.floats(0.7, 1.0),
    deg=st.floats(0.0, 10.0),
    soc0=st.floats(0.1, 0.9),
)
def test_no_simultaneous_charge_and_discharge_and_soc_within_band(
    prices: list[float], eta: float, deg: float, soc0: float
) -> None:
    spec = battery(eta_charge=eta, eta_discharge=eta, self_discharge_per_h=0.0)
    unit = StorageUnit(spec, soc0 * spec.energy_mwh, degradation_cost=deg)
    result = optimize_schedule([unit], ScheduleMarket(np.array(prices), 1.0))
    both = np.minimum(result.charge_mw, result.discharge_mw)
    assert both.max() <= 1e-6
    assert result.energy_mwh.min() >= unit.e_min_mwh - 1e-6
    assert result.energy_mwh.max() <= unit.e_max_mwh + 1e-6
    np.testing.assert_allclose(result.power_mw, result.discharge_mw - result.charge_mw, atol=1e-9)
    expected = soc_trajectory(spec, result.power_mw[0], unit.energy0_mwh, 1.0)
    np.testing.assert_allclose(result.energy_mwh[0], expected, atol=1e-5)


def test_the_lp_alone_would_charge_and_discharge_at_once_at_negative_prices() -> None:
    """The switches are needed: a full battery paid to charge burns energy through both."""
    spec = battery(eta_charge=0.8, eta_discharge=0.8, self_discharge_per_h=0.0)
    unit = StorageUnit(spec, spec.soc_max * spec.energy_mwh)
    price = np.full(8, -100.0)
    lp = optimize_schedule([unit], ScheduleMarket(price, 1.0), binaries="never")
    milp = optimize_schedule([unit], ScheduleMarket(price, 1.0))
    assert np.minimum(lp.charge_mw, lp.discharge_mw).max() > 0.1
    assert np.minimum(milp.charge_mw, milp.discharge_mw).max() <= 1e-6
    assert milp.n_binaries > 0
    assert milp.objective <= lp.objective + 1e-6  # the relaxation bounds the MILP
    assert milp.mip_gap <= 1e-4


def test_unreachable_end_target_stays_solvable_with_the_penalty_reported() -> None:
    spec = battery(self_discharge_per_h=0.0)
    # from 0.5 MWh, 4 h at 1 MW · 0.95 reach at most 1.8 MWh (the band's top): 1.9 is out
    unit = StorageUnit(spec, 0.5, end_energy_mwh=1.9)
    pen = Penalties(energy=10_000.0)
    result = optimize_schedule([unit], ScheduleMarket(np.full(4, 50.0), 1.0), penalties=pen)
    assert result.status == "Optimal"
    assert result.energy_mwh[0, -1] == pytest.approx(1.8)
    assert result.slacks.energy_mwh[0] == pytest.approx(0.1)
    assert result.slacks.cost == pytest.approx(0.1 * 10_000.0)
    assert result.slacks.used
    expected = result.expected_revenue - result.degradation_cost - result.slacks.cost
    assert result.objective == pytest.approx(expected)


def test_grid_limit_and_ramps_are_soft_with_their_excess_reported() -> None:
    t = 4
    must_run = FlexUnit(
        baseline_mw=np.full(t, 5.0),
        p_min_mw=np.array([5.0, 5.0, 0.0, 0.0]),
        p_max_mw=np.full(t, 5.0),
        e_min_mwh=np.full(t, -np.inf),
        e_max_mwh=np.full(t, np.inf),
        ramp_up_mw=np.full(t, 1.0),
        ramp_down_mw=np.full(t, 1.0),
        p_initial_mw=2.0,
    )
    market = ScheduleMarket(np.full(t, 40.0), 1.0, export_max_mw=np.full(t, 4.0))
    result = optimize_schedule([must_run], market)
    assert result.status == "Optimal"
    # 5 MW must be exported in the first two intervals: 1 MW above the limit each
    np.testing.assert_allclose(result.slacks.grid_export_mw[:2], 1.0, atol=1e-9)
    # from 2 MW before the horizon to 5 MW: 2 MW above the 1 MW ramp
    assert result.slacks.ramp_mw[0] == pytest.approx(2.0)
    assert result.slacks.cost > 0
    assert result.total_mw[2:].max() <= 4.0 + 1e-9


def test_flex_envelope_from_the_aggregation_engine_respects_its_energy_bounds() -> None:
    t, dt = 8, 0.5
    flex = Flex(
        baseline_mw=np.zeros(t),
        p_min_mw=np.full(t, -2.0),
        p_max_mw=np.full(t, 2.0),
        e_min_mwh=np.full(t, -1.0),
        e_max_mwh=np.full(t, 1.0),
        ramp_up_mw=np.full(t, 4.0),
        ramp_down_mw=np.full(t, 4.0),
    )
    price = np.array([10, 10, 80, 80, 10, 10, 80, 80], dtype=np.float64)
    result = optimize_schedule([FlexUnit.from_flex(flex)], ScheduleMarket(price, dt))
    cumulative = np.cumsum(result.power_mw[0] * dt)
    assert cumulative.min() >= -1 - 1e-9 and cumulative.max() <= 1 + 1e-9
    np.testing.assert_allclose(result.energy_mwh[0], cumulative, atol=1e-9)
    assert not result.slacks.used
    # buys 1 MWh at 10 (to -1), sells 2 at 80 (to +1), buys 2 at 10, sells 2 at 80
    assert result.objective == pytest.approx(-10 + 160 - 20 + 160)


def test_cvar_is_the_mean_of_the_worst_tail_and_risk_aversion_raises_it() -> None:
    rng = np.random.default_rng(3)
    base = pjm_quarter_hours()[::4]
    scenarios = base + rng.normal(0, 15, (20, 24)) * np.linspace(0.2, 2, 24)
    unit = StorageUnit(battery(self_discharge_per_h=0.0), 1.0, degradation_cost=1.0)
    neutral = optimize_schedule([unit], ScheduleMarket(scenarios, 1.0))
    averse = optimize_schedule(
        [unit], ScheduleMarket(scenarios, 1.0, cvar_weight=0.9, cvar_alpha=0.8)
    )
    revenue = scenarios @ averse.total_mw
    worst = np.sort(revenue)[:4]  # 20 equally likely scenarios, tail 0.2: the worst 4
    assert averse.cvar == pytest.approx(worst.mean(), rel=1e-6)
    expected = 0.1 * averse.expected_revenue + 0.9 * averse.cvar - averse.degradation_cost
    assert averse.objective == pytest.approx(expected, rel=1e-6)
    neutral_cvar = np.sort(scenarios @ neutral.total_mw)[:4].mean()
    assert averse.cvar >= neutral_cvar - 1e-6
    assert averse.expected_revenue <= neutral.expected_revenue + 1e-6


def test_fixed_position_earns_only_the_open_position() -> None:
    price = pjm_quarter_hours()[::4]
    unit = StorageUnit(battery(self_discharge_per_h=0.0), 1.0)
    fixed = np.where(price > price.mean(), 0.5, -0.3)
    free = optimize_schedule([unit], ScheduleMarket(price, 1.0))
    sold = optimize_schedule([unit], ScheduleMarket(price, 1.0, fixed_mw=fixed))
    np.testing.assert_allclose(sold.open_position_mw, sold.total_mw - fixed)
    assert sold.expected_revenue == pytest.approx(float(price @ (sold.total_mw - fixed)))
    assert sold.objective == pytest.approx(free.objective - float(price @ fixed))


def test_solver_time_limit_and_mip_gap_are_set_on_highs() -> None:
    unit = StorageUnit(battery(), 1.0)
    market = ScheduleMarket(np.full(4, 30.0), 1.0)
    lp = ScheduleLp([unit], [], 4, 1.0, Penalties(), market.expected_price)
    options = SolverOptions(time_limit_s=0.75, mip_rel_gap=0.02)
    x, status, _, _ = lp.solve(options)
    assert x is not None and status == "Optimal"
    assert lp.highs.getOptionValue("time_limit")[1] == pytest.approx(0.75)
    assert lp.highs.getOptionValue("mip_rel_gap")[1] == pytest.approx(0.02)
    defaults = SolverOptions()
    assert np.isfinite(defaults.time_limit_s) and defaults.mip_rel_gap > 0
    with pytest.raises(ValueError, match="time_limit_s"):
        SolverOptions(time_limit_s=0)
    with pytest.raises(ValueError, match="mip_rel_gap"):
        SolverOptions(mip_rel_gap=1.5)


def test_price_response_is_the_optimal_total_and_rises_with_its_own_price() -> None:
    units = [
        StorageUnit(battery(), 1.0, degradation_cost=2.0),
        FlexUnit.from_bounds(np.zeros(24), np.full(24, 0.5), 1.0),
    ]
    base = pjm_quarter_hours()[::4]
    bumped = base.copy()
    bumped[10] += 40.0
    both = price_response(units, np.vstack((base, bumped)), 1.0)
    single = optimize_schedule(units, ScheduleMarket(base, 1.0)).total_mw
    np.testing.assert_allclose(both[0], single, atol=1e-7)
    np.testing.assert_allclose(price_response(units, base, 1.0), single, atol=1e-7)
    assert both[1, 10] >= both[0, 10] - 1e-7
    negative = price_response(units, base - 60.0, 1.0)  # switches needed: the MILP path
    assert negative.shape == (24,)


def test_units_and_market_are_validated_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="energy0_mwh"):
        StorageUnit(battery(), 1.95)
    with pytest.raises(ValueError, match="eta_charge"):
        StorageUnit(battery(eta_charge=1.2), 1.0)
    with pytest.raises(ValueError, match="degradation_cost"):
        StorageUnit(battery(), 1.0, degradation_cost=-1.0)
    with pytest.raises(ValueError, match="p_min_mw"):
        FlexUnit.from_bounds(np.ones(3), np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="probabilities"):
        ScheduleMarket(np.ones((2, 3)), 1.0, probabilities=np.array([0.2, 0.2]))
    with pytest.raises(ValueError, match="export_max_mw"):
        ScheduleMarket(np.ones(3), 1.0, export_max_mw=np.array([1.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="interval 1"):
        ScheduleMarket(
            np.ones(3), 1.0, export_max_mw=np.array([1.0, -1.0, 1.0]), import_max_mw=np.zeros(3)
        )
    with pytest.raises(ValueError, match="cvar_weight"):
        ScheduleMarket(np.ones(3), 1.0, cvar_weight=1.0)
    with pytest.raises(ValueError, match=r"penalties\.grid"):
        Penalties(grid=0.0)
