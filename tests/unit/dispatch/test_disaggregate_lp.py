"""The LP disaggregation: looks ahead, never worse than the greedy rule, respects every limit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings

from openvpp.dispatch.disaggregate import Fleet, Storage, disaggregate
from openvpp.dispatch.disaggregate_lp import disaggregate_lp
from openvpp.resources.models.battery import BatterySpec, soc_trajectory
from tests.unit.dispatch.test_disaggregate import fleets

TOL = 1e-6


def test_lp_keeps_battery_energy_for_when_it_is_needed() -> None:
    # a unit that can give 1 MW only in the first hour, a battery with 1 MWh above its minimum
    spec = BatterySpec(2.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0)
    storage = Storage.from_specs([1], [spec], [1.0])
    lo = np.zeros((2, 2))
    hi = np.array([[1.0, 0.0], [1.0, 1.0]])
    lo[1] = -1.0
    ramp = np.full(2, np.inf)
    fleet = Fleet(("unit", "bat"), np.zeros((2, 2)), lo, hi, ramp, ramp, storage=storage)
    target = np.array([1.0, 1.0])
    greedy = disaggregate(fleet, target, 1.0)
    assert greedy.residual_mw[1] == pytest.approx(0.5)  # spent half the battery too early
    exact = disaggregate_lp(fleet, target, 1.0)
    assert exact.residual_mw == pytest.approx([0.0, 0.0])
    assert exact.p_mw == pytest.approx(np.array([[1.0, 0.0], [0.0, 1.0]]), abs=TOL)
    assert exact.stored_mwh is not None
    assert exact.stored_mwh[0] == pytest.approx([1.0, 1.0, 0.0], abs=TOL)


def test_lp_meets_cumulative_energy_bounds() -> None:
    t = 4
    lo, hi = np.full((1, t), -1.0), np.zeros((1, t))
    e_min = np.full((1, t), -np.inf)
    e_max = np.array([[np.inf, np.inf, np.inf, -2.0]])
    ramp = np.full(1, np.inf)
    fleet = Fleet(("load",), np.zeros((1, t)), lo, hi, ramp, ramp, e_min_mwh=e_min, e_max_mwh=e_max)
    plan = disaggregate_lp(fleet, np.zeros(t), 1.0)
    assert plan.p_mw.sum() <= -2.0 + TOL


@settings(max_examples=25, deadline=None)
@given(case=fleets())
def test_property_lp_within_limits_and_never_worse_than_greedy(
    case: tuple[Fleet, np.ndarray, float, BatterySpec],
) -> None:
    fleet, target, dt, spec = case
    exact = disaggregate_lp(fleet, target, dt)
    p = exact.p_mw
    assert np.all(p >= fleet.p_min_mw - TOL)
    assert np.all(p <= fleet.p_max_mw + TOL)
    assert fleet.p0_mw is not None
    steps = np.diff(np.concatenate([fleet.p0_mw[:, None], p], axis=1), axis=1)
    assert np.all(steps <= fleet.ramp_up_mw[:, None] + TOL)
    assert np.all(-steps <= fleet.ramp_down_mw[:, None] + TOL)
    assert exact.stored_mwh is not None
    stored = soc_trajectory(spec, p[0], float(exact.stored_mwh[0, 0]), dt)
    keep = (1 - spec.self_discharge_per_h) ** (dt * p.shape[1])
    assert np.all(stored >= spec.soc_min * spec.energy_mwh * keep - 1e-5)
    assert np.all(stored <= spec.soc_max * spec.energy_mwh + 1e-5)
    assert p.sum(axis=0) + exact.residual_mw == pytest.approx(target)
    # never more residual than the greedy rule (compared without self-discharge: the LP keeps
    # the energy above the minimum even against self-discharge, the greedy rule lets
    # self-discharge take it below)
    assert fleet.storage is not None
    no_leak = replace(fleet, storage=replace(fleet.storage, self_discharge_per_h=np.zeros(1)))
    exact = disaggregate_lp(no_leak, target, dt)
    greedy = disaggregate(no_leak, target, dt)
    assert np.abs(exact.residual_mw).sum() <= np.abs(greedy.residual_mw).sum() + 1e-6
