"""Disaggregation: limits, ramps, storage, residuals (examples and properties)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.dispatch.disaggregate import (
    Fleet,
    Storage,
    disaggregate,
    redispatch,
    share_deviation,
)
from openvpp.dispatch.setpoints import build_setpoints, default_fallback_mw
from openvpp.resources.models.battery import BatterySpec, soc_trajectory
from openvpp.resources.templates import ResourceType

TOL = 1e-7


def fleet_of(
    base: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    ramp: float | np.ndarray = np.inf,
    **kw: object,
) -> Fleet:
    n = base.shape[0]
    r = np.broadcast_to(np.asarray(ramp, dtype=np.float64), (n,))
    return Fleet(tuple(f"r{i}" for i in range(n)), base, lo, hi, r, r, **kw)  # type: ignore[arg-type]


def test_share_in_proportion_to_headroom() -> None:
    x, res = share_deviation(np.zeros(2), np.array([-1.0, -3.0]), np.array([1.0, 3.0]), 2.0)
    assert x.tolist() == pytest.approx([0.5, 1.5])
    assert res == 0.0
    x, res = share_deviation(np.zeros(2), np.array([-1.0, -3.0]), np.array([1.0, 3.0]), -6.0)
    assert x.tolist() == [-1.0, -3.0]
    assert res == pytest.approx(-2.0)


def test_weighted_share_water_fills_capped_resources() -> None:
    w = np.array([10.0, 1.0])
    x, res = share_deviation(np.zeros(2), np.zeros(2), np.array([1.0, 3.0]), 2.0, w)
    assert x[0] == pytest.approx(1.0)  # capped: its weighted share exceeded its headroom
    assert x[1] == pytest.approx(1.0)
    assert res == 0.0


def test_residual_when_fleet_cannot_follow() -> None:
    base = np.zeros((2, 3))
    lo, hi = np.full((2, 3), -1.0), np.full((2, 3), 1.0)
    plan = disaggregate(fleet_of(base, lo, hi), np.array([1.0, 3.0, -2.5]), 0.25)
    assert plan.total_mw.tolist() == pytest.approx([1.0, 2.0, -2.0])
    assert plan.residual_mw.tolist() == pytest.approx([0.0, 1.0, -0.5])


@pytest.mark.parametrize("dt_h", [0.25, 1.0])
def test_battery_soc_follows_the_battery_model(dt_h: float) -> None:
    spec = BatterySpec(2.0, 1.0, 1.0, 0.95, 0.9, 0.1, 0.9, 0.01)
    t = 12
    storage = Storage.from_specs([0], [spec], [1.0])
    fleet = fleet_of(np.zeros((1, t)), np.full((1, t), -1.0), np.full((1, t), 1.0), storage=storage)
    target = np.array([1.0] * 6 + [-1.0] * 6)
    plan = disaggregate(fleet, target, dt_h)
    assert plan.stored_mwh is not None
    expected = soc_trajectory(spec, plan.p_mw[0], 1.0, dt_h)
    assert plan.stored_mwh[0, 1:] == pytest.approx(expected)
    # only self-discharge takes it below the minimum, and then it never discharges
    below = plan.stored_mwh[0, :-1] * (0.99**dt_h) < 0.2 - TOL
    assert np.all(plan.p_mw[0][below] <= 0.0)
    assert plan.stored_mwh.min() >= 0.2 * 0.99 ** (t * dt_h) - TOL
    assert plan.stored_mwh.max() <= 1.8 + TOL
    # with 1 h intervals the battery empties before the discharge block ends: residual
    if dt_h == 1.0:
        assert plan.residual_mw[:6].max() > 0


def test_cumulative_energy_bounds_are_met_with_lookahead() -> None:
    # a load that must draw 2 MWh by the end, at most 1 MW; the target asks for nothing
    t, dt = 4, 1.0
    lo, hi = np.full((1, t), -1.0), np.zeros((1, t))
    e_min = np.full((1, t), -np.inf)
    e_max = np.array([[np.inf, np.inf, np.inf, -2.0]])
    fleet = fleet_of(np.zeros((1, t)), lo, hi, e_min_mwh=e_min, e_max_mwh=e_max)
    plan = disaggregate(fleet, np.zeros(t), dt)
    assert plan.p_mw[0].sum() * dt <= -2.0 + TOL
    assert plan.p_mw[0].tolist() == pytest.approx([0.0, 0.0, -1.0, -1.0])
    assert plan.residual_mw.tolist() == pytest.approx([0.0, 0.0, 1.0, 1.0])


def test_redispatch_covers_a_failed_resource() -> None:
    t = 4
    base = np.zeros((3, t))
    lo, hi = np.full((3, t), -1.0), np.full((3, t), 1.0)
    fleet = fleet_of(base, lo, hi, ramp=0.5)
    responsive = np.array([False, True, True])
    plan = redispatch(
        fleet,
        np.full(t, 1.2),
        0.25,
        measured_mw=np.array([0.0, 0.4, 0.4]),
        responsive=responsive,
        catch_up_mw=0.2,
    )
    assert np.all(plan.p_mw[0] == 0.0)  # held at what it does
    assert plan.total_mw[0] == pytest.approx(1.4)
    assert plan.total_mw[1:] == pytest.approx([1.2] * 3)
    assert np.all(np.abs(plan.p_mw[1:, 0] - 0.4) <= 0.5 + TOL)  # ramps from the measurement


def test_setpoints_windows_seq_and_fallbacks() -> None:
    p = np.array([[1.0, 2.0], [-0.5, -0.4]])
    kinds = [ResourceType.BATTERY, ResourceType.CURTAILABLE_LOAD]
    base = np.array([[0.0, 0.0], [-0.6, -0.7]])
    starts = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=15 * k) for k in range(2)]
    sps, nxt = build_setpoints(
        p,
        ["b", "l"],
        starts,
        timedelta(minutes=15),
        organization_id="o",
        issued_at=starts[0],
        fallback_mw=default_fallback_mw(kinds, base),
        first_seq=np.array([5, 0]),
        grace=timedelta(seconds=30),
    )
    assert nxt.tolist() == [7, 2]
    assert [(s.resource_id, s.seq, s.p_mw, s.fallback_mw) for s in sps] == [
        ("b", 5, 1.0, 0.0),
        ("l", 0, -0.5, -0.6),
        ("b", 6, 2.0, 0.0),
        ("l", 1, -0.4, -0.7),
    ]
    assert sps[2].valid_until - sps[2].valid_from == timedelta(minutes=15, seconds=30)
    assert len({s.instruction_id for s in sps}) == 4


# -- properties -------------------------------------------------------------------------


@st.composite
def fleets(draw: st.DrawFn) -> tuple[Fleet, np.ndarray, float, BatterySpec]:
    n = draw(st.integers(1, 6))
    t = draw(st.integers(1, 12))
    dt = draw(st.sampled_from([0.25, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    lo = -rng.uniform(0, 2, n)[:, None] * np.ones((1, t))
    hi = rng.uniform(0, 2, n)[:, None] * np.ones((1, t))
    base = rng.uniform(lo, hi)
    ramp = rng.uniform(0.05, 3, n)
    ramp[0] = np.inf  # the battery (row 0): inverter-coupled, energy limits may stop it at once
    p0 = rng.uniform(lo[:, 0], hi[:, 0])
    spec = BatterySpec(
        float(rng.uniform(0.5, 4)), 2.0, 2.0, float(rng.uniform(0.8, 1)), 0.9, 0.1, 0.9, 0.002
    )
    storage = Storage.from_specs([0], [spec], [spec.energy_mwh * float(rng.uniform(0.1, 0.9))])
    fleet = Fleet(
        tuple(f"r{i}" for i in range(n)), base, lo, hi, ramp, ramp, p0_mw=p0, storage=storage
    )
    target = rng.uniform(lo.sum(axis=0) * 1.2, hi.sum(axis=0) * 1.2)
    return fleet, target, dt, spec


@settings(max_examples=200, deadline=None)
@given(case=fleets())
def test_property_plan_respects_limits_ramps_soc_and_balances(
    case: tuple[Fleet, np.ndarray, float, BatterySpec],
) -> None:
    fleet, target, dt, spec = case
    plan = disaggregate(fleet, target, dt)
    p = plan.p_mw
    assert np.all(p >= fleet.p_min_mw - TOL)
    assert np.all(p <= fleet.p_max_mw + TOL)
    assert fleet.p0_mw is not None
    steps = np.diff(np.concatenate([fleet.p0_mw[:, None], p], axis=1), axis=1)
    assert np.all(steps <= fleet.ramp_up_mw[:, None] + TOL)
    assert np.all(-steps <= fleet.ramp_down_mw[:, None] + TOL)
    assert plan.stored_mwh is not None
    stored = soc_trajectory(spec, p[0], float(plan.stored_mwh[0, 0]), dt)
    assert stored == pytest.approx(plan.stored_mwh[0, 1:])
    keep = (1 - spec.self_discharge_per_h) ** (dt * p.shape[1])  # self-discharge may go below
    assert np.all(stored >= spec.soc_min * spec.energy_mwh * min(keep, 1.0) - 1e-6)
    assert np.all(stored <= spec.soc_max * spec.energy_mwh + 1e-6)
    # sum equals the target where it could; the residual says by how much it could not
    assert p.sum(axis=0) + plan.residual_mw == pytest.approx(target)
    short = np.abs(plan.residual_mw) > TOL
    if short.any():  # only when every resource sits at the bound in that direction
        cols = np.flatnonzero(short)
        up = plan.residual_mw[cols] > 0
        prev = np.concatenate([fleet.p0_mw[:, None], p[:, :-1]], axis=1)[:, cols]
        for c, k, is_up in zip(cols, range(len(cols)), up, strict=True):
            if is_up:
                room = np.minimum(fleet.p_max_mw[:, c], prev[:, k] + fleet.ramp_up_mw) - p[:, c]
            else:
                room = p[:, c] - np.maximum(fleet.p_min_mw[:, c], prev[:, k] - fleet.ramp_down_mw)
            room[0] = 0.0 if room[0] > 0 else room[0]  # the battery may be energy-bound
            assert np.all(room <= TOL)


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(1, 8),
    t=st.integers(1, 10),
    seed=st.integers(0, 2**32 - 1),
    dt=st.sampled_from([0.25, 1.0]),
)
def test_property_feasible_targets_are_met_exactly(n: int, t: int, seed: int, dt: float) -> None:
    """Without ramps or storage a target within the summed limits is always met."""
    rng = np.random.default_rng(seed)
    lo = -rng.uniform(0, 2, (n, t))
    hi = rng.uniform(0, 2, (n, t))
    base = rng.uniform(lo, hi)
    target = rng.uniform(lo.sum(axis=0), hi.sum(axis=0))
    w = rng.uniform(0.1, 5, n)
    for weight in (None, w):
        plan = disaggregate(fleet_of(base, lo, hi, weight=weight), target, dt)
        assert plan.total_mw == pytest.approx(target)
        assert np.all(plan.residual_mw == 0.0)
        assert np.all((plan.p_mw >= lo - TOL) & (plan.p_mw <= hi + TOL))
