"""Closed loop: plan, send to the simulated fleet, see a device fail, re-dispatch the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from openvpp.dispatch.device import FOLLOWING
from openvpp.dispatch.disaggregate import Fleet, Storage, disaggregate, redispatch
from openvpp.dispatch.protocol import DeviceMode
from openvpp.dispatch.setpoints import build_setpoints
from openvpp.dispatch.sim_data import Profiles, replay, shipped_weather
from openvpp.dispatch.simulator import DeviceSimulator, Faults, Noise, ScheduledFault, SimFleet
from openvpp.resources.templates import ResourceType

START = datetime(2026, 6, 1, 12, tzinfo=UTC)
T, DT = 8, timedelta(minutes=15)
N = 5


def sim_fleet() -> SimFleet:
    one = np.ones(N)
    return SimFleet(
        resource_ids=tuple(f"b{i}" for i in range(N)),
        kinds=(ResourceType.BATTERY,) * N,
        ramp_mw_per_s=one,
        fallback_mw=np.zeros(N),
        pv_dc_mw=one,
        pv_ac_mw=one,
        load_peak_mw=one,
        load_curtailable=one * 0.3,
        energy_mwh=one * 4.0,
        p_charge_max_mw=one,
        p_discharge_max_mw=one,
        eta_charge=one * 0.95,
        eta_discharge=one * 0.95,
        soc_min=one * 0.1,
        soc_max=one * 0.9,
        soc0=one * 0.5,
        self_discharge_per_h=np.zeros(N),
    )


def plan_fleet(sf: SimFleet) -> Fleet:
    lo, hi = sf.limits()
    storage = Storage(
        np.arange(N),
        sf.soc0 * sf.energy_mwh,
        sf.soc_min * sf.energy_mwh,
        sf.soc_max * sf.energy_mwh,
        sf.eta_charge,
        sf.eta_discharge,
        sf.self_discharge_per_h,
    )
    ramp = np.full(N, np.inf)
    return Fleet(
        sf.resource_ids,
        np.zeros((N, T)),
        np.repeat(lo[:, None], T, axis=1),
        np.repeat(hi[:, None], T, axis=1),
        ramp,
        ramp,
        storage=storage,
    )


def test_redispatch_covers_a_failed_battery() -> None:
    day = START.replace(hour=0)
    profiles = Profiles.from_data(
        day, day + timedelta(days=1), weather=replay(shipped_weather(), day)
    )
    sf = sim_fleet()
    fail_at = START + 2 * DT
    faults = Faults(schedule=(ScheduledFault("b0", "fault", fail_at),))
    sim = DeviceSimulator(
        sf, profiles, START, noise=Noise(measurement=0.0, tracking=0.0), faults=faults, step_s=10
    )
    fleet = plan_fleet(sf)
    target = np.full(T, 2.5)  # 2.5 MW from five 1-MW batteries
    plan = disaggregate(fleet, target, 0.25)
    assert plan.residual_mw == pytest.approx(np.zeros(T))
    starts = [START + k * DT for k in range(T)]
    sps, next_seq = build_setpoints(
        plan.p_mw, sf.resource_ids, starts, DT, organization_id="o", issued_at=START
    )
    sim.send_now(sps)
    sim.advance(starts[2] + DT / 2)
    assert sim.applied_mw.sum() == pytest.approx(2.0)  # b0 failed: 0.5 MW short
    # monitoring: who follows, what is measured
    last = {s.resource_id: s for s in sim.drain_now().telemetry}
    measured = np.array([last[r].p_mw for r in sf.resource_ids])
    responsive = np.array([last[r].mode is DeviceMode.FOLLOWING for r in sf.resource_ids])
    assert responsive.tolist() == [False, True, True, True, True]
    k = 3  # re-plan from the next interval
    stored = np.array([last[r].soc for r in sf.resource_ids], dtype=float) * 4.0
    again = redispatch(
        fleet.tail(k),
        target[k:],
        0.25,
        measured_mw=measured,
        stored_mwh=stored,
        responsive=responsive,
    )
    assert again.residual_mw == pytest.approx(np.zeros(T - k), abs=1e-9)
    assert again.p_mw[0] == pytest.approx(np.zeros(T - k))
    sps2, _ = build_setpoints(
        again.p_mw,
        sf.resource_ids,
        starts[k:],
        DT,
        organization_id="o",
        issued_at=sim.now,
        first_seq=next_seq,
    )
    sim.send_now(sps2)
    totals = []
    for t in sim.step_times(starts[-1] + DT - timedelta(seconds=10)):
        sim.advance(t)
        if t >= starts[k] + timedelta(seconds=10):
            totals.append(sim.applied_mw.sum())
            assert sim.mode[1:].tolist() == [FOLLOWING] * (N - 1)
    assert totals == pytest.approx([2.5] * len(totals))
