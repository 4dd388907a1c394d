"""The in-process device simulator: physics, fail-safe, faults, the gateway contract."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache

import numpy as np
import pytest

from openvpp.dispatch.protocol import AckStatus, DeviceGateway, DeviceMode, Setpoint
from openvpp.dispatch.sim_data import Profiles, pv_per_mw_dc, replay, shipped_weather
from openvpp.dispatch.simulator import DeviceSimulator, Faults, Noise, ScheduledFault, SimFleet
from openvpp.resources.models.battery import BatterySpec, soc_trajectory
from openvpp.resources.templates import ResourceType

START = datetime(2026, 6, 1, 14, tzinfo=UTC)  # 08:00 at the NSRDB site: the sun is up
QUIET = Noise(measurement=0.0, tracking=0.0, cloud=0.0, load=0.0)


@cache
def profiles() -> Profiles:
    day = START.replace(hour=0)
    return Profiles.from_data(day, day + timedelta(days=1), weather=replay(shipped_weather(), day))


def fleet(kinds: list[ResourceType]) -> SimFleet:
    n = len(kinds)
    one = np.ones(n)
    return SimFleet(
        resource_ids=tuple(f"d{i}" for i in range(n)),
        kinds=tuple(kinds),
        ramp_mw_per_s=one * 0.1,
        fallback_mw=np.zeros(n),
        pv_dc_mw=one * 1.25,
        pv_ac_mw=one,
        load_peak_mw=one,
        load_curtailable=one * 0.3,
        energy_mwh=one * 2.0,
        p_charge_max_mw=one,
        p_discharge_max_mw=one,
        eta_charge=one * 0.95,
        eta_discharge=one * 0.9,
        soc_min=one * 0.1,
        soc_max=one * 0.9,
        soc0=one * 0.5,
        self_discharge_per_h=one * 0.001,
    )


def sp(rid: str, seq: int, p: float, start: datetime, minutes: float) -> Setpoint:
    return Setpoint(
        f"{rid}/{seq}",
        "org",
        rid,
        seq,
        p,
        start,
        start + timedelta(minutes=minutes),
        0.0,
        start,
    )


def test_is_a_device_gateway_and_speaks_async() -> None:
    sim = DeviceSimulator(fleet([ResourceType.BATTERY]), profiles(), START, noise=QUIET)
    assert isinstance(sim, DeviceGateway)

    async def run() -> None:
        await sim.send([sp("d0", 1, 0.5, START, 15)])
        sim.advance(START + timedelta(minutes=2))
        events = await sim.drain()
        assert [a.status for a in events.acks] == [AckStatus.ACCEPTED]
        assert events.telemetry[-1].mode is DeviceMode.FOLLOWING
        seqs = [s.seq for s in events.telemetry]
        assert seqs == sorted(set(seqs))  # increasing per device, no duplicates
        assert (await sim.drain()).acks == []
        await sim.aclose()

    asyncio.run(run())


def test_battery_follows_setpoints_and_soc_follows_the_battery_model() -> None:
    sim = DeviceSimulator(fleet([ResourceType.BATTERY]), profiles(), START, noise=QUIET, step_s=10)
    sim.send_now(
        [sp("d0", 1, 0.8, START, 15), sp("d0", 2, -0.6, START + timedelta(minutes=15), 15)]
    )
    e0 = float(sim.stored_mwh[0])
    applied = []
    for t in sim.step_times(START + timedelta(minutes=30, seconds=10)):
        sim.advance(t)
        applied.append(float(sim.applied_mw[0]))
    p = np.array(applied)
    # ramp 0.1 MW/s: at the setpoint after the first steps of each interval
    assert p[5:90] == pytest.approx(0.8)  # step j covers (j · 10 s, (j + 1) · 10 s]
    assert p[95:180] == pytest.approx(-0.6)
    assert p[180] == 0.0  # the window ended without a successor: fallback
    spec = BatterySpec(2.0, 1.0, 1.0, 0.95, 0.9, 0.1, 0.9, 0.001)
    expected = soc_trajectory(spec, p, e0, 10 / 3600)
    assert sim.stored_mwh[0] == pytest.approx(expected[-1])
    assert sim.soc()[0] == pytest.approx(expected[-1] / 2.0)


@pytest.mark.parametrize("step_s", [60.0, 40.0])  # the window on the cycle grid, or off it
def test_a_setpoint_is_applied_over_its_whole_window_and_not_after(step_s: float) -> None:
    # no self-discharge: the stored energy does not depend on how the steps are cut
    lossless = replace(fleet([ResourceType.BATTERY]), self_discharge_per_h=np.zeros(1))
    sim = DeviceSimulator(lossless, profiles(), START, noise=QUIET, step_s=step_s)
    start, end = START + timedelta(minutes=3), START + timedelta(minutes=18)
    sim.send_now([sp("d0", 1, 0.5, start, 15)])  # valid [start, end)
    e0 = float(sim.stored_mwh[0])
    cycles = []  # (cycle start, power applied over the cycle)
    for t in sim.step_times(START + timedelta(minutes=25)):
        cycle_start = sim.now
        sim.advance(t)
        cycles.append((cycle_start, float(sim.applied_mw[0])))
    last = max(c for c, _ in cycles if c < end)
    assert dict(cycles)[last] == 0.5  # the window's last cycle
    assert all(p == 0.0 for c, p in cycles if c >= end)  # none after: the fallback
    assert sim.mode[0] == 1  # FALLBACK
    # exactly the window's energy, on a grid fine enough for its bounds (20 s)
    fine = np.arange(0, 25 * 60, 20.0)
    p = np.where((fine >= 180) & (fine < 1080), 0.5, 0.0)
    spec = BatterySpec(2.0, 1.0, 1.0, 0.95, 0.9, 0.1, 0.9, 0.0)
    expected = soc_trajectory(spec, p, e0, 20 / 3600)[-1]
    assert sim.stored_mwh[0] == pytest.approx(expected, rel=1e-12)


def test_battery_stops_at_its_energy_limit() -> None:
    f = fleet([ResourceType.BATTERY])
    sim = DeviceSimulator(f, profiles(), START, noise=QUIET)
    sim.send_now([sp("d0", 1, 1.0, START, 120)])
    sim.advance(START + timedelta(minutes=120))
    assert sim.stored_mwh[0] >= 0.2 * (1 - 0.001) ** 2 - 1e-9
    assert sim.applied_mw[0] == pytest.approx(0.0, abs=1e-9)  # empty: nothing left to give


def test_pv_never_exceeds_the_irradiance_driven_available_power() -> None:
    sim = DeviceSimulator(
        fleet([ResourceType.PV] * 20), profiles(), START, noise=Noise(tracking=0.05, cloud=0.2)
    )
    sim.send_now([sp(f"d{i}", 1, 1.0, START, 240) for i in range(10)])  # caps at AC
    sim.send_now([sp(f"d{i}", 1, 0.2, START, 240) for i in range(10, 20)])  # curtailed
    per_dc = pv_per_mw_dc(replay(shipped_weather(), START.replace(hour=0)))
    for t in sim.step_times(START + timedelta(hours=4)):
        sim.advance(t)
        assert np.all(sim.applied_mw <= sim.available_mw + 1e-12)
        assert np.all(sim.applied_mw >= 0.0)
        bound = 1.25 * 1.3 * float(np.interp(t.timestamp(), *_xy(per_dc)))
        assert np.all(sim.available_mw <= min(bound, 1.0) + 1e-12)
    assert sim.available_mw[:10].mean() > 0.1  # daylight: it produced
    assert np.all(sim.applied_mw[10:] <= 0.2 + 0.05 * 4 * 1.0)  # the cap, within tracking noise


def _xy(series: object) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    assert isinstance(series, pd.Series)
    return pd.DatetimeIndex(series.index).as_unit("ns").asi8 / 1e9, series.to_numpy(float)


def test_fault_stops_following() -> None:
    start_fault = START + timedelta(minutes=5)
    faults = Faults(schedule=(ScheduledFault("d0", "fault", start_fault),))
    sim = DeviceSimulator(
        fleet([ResourceType.BATTERY] * 2), profiles(), START, noise=QUIET, faults=faults
    )
    sim.send_now([sp(r, 1, 0.5, START, 15) for r in ("d0", "d1")])
    sim.advance(START + timedelta(minutes=4))
    assert sim.applied_mw.tolist() == pytest.approx([0.5, 0.5])
    sim.advance(START + timedelta(minutes=6))
    assert sim.applied_mw.tolist() == pytest.approx([0.0, 0.5])
    sim.send_now([sp("d0", 2, 0.3, START + timedelta(minutes=6), 10)])
    events = sim.drain_now()
    assert events.acks[-1].status is AckStatus.REJECTED
    assert {s.mode for s in events.telemetry if s.resource_id == "d0" and s.at > start_fault} == {
        DeviceMode.FAULT
    }


def test_ignoring_device_acks_but_runs_at_its_natural_output() -> None:
    faults = Faults(schedule=(ScheduledFault("d0", "ignore", START),))
    sim = DeviceSimulator(
        fleet([ResourceType.BATTERY]), profiles(), START, noise=QUIET, faults=faults
    )
    sim.send_now([sp("d0", 1, 0.5, START, 15)])
    sim.advance(START + timedelta(minutes=5))
    assert sim.drain_now().acks[0].status is AckStatus.ACCEPTED
    assert sim.applied_mw[0] == 0.0


@pytest.mark.parametrize("how", ["broker", "device"])
def test_link_loss_falls_back_within_timeout_plus_one_cycle(how: str) -> None:
    cut = START + timedelta(minutes=3)
    faults = Faults(schedule=(ScheduledFault("d0", "offline", cut),)) if how == "device" else None
    sim = DeviceSimulator(
        fleet([ResourceType.BATTERY]),
        profiles(),
        START,
        noise=QUIET,
        faults=faults,
        step_s=5,
        link_timeout_s=60,
    )
    sim.send_now([sp("d0", 1, 0.7, START, 60)])
    sim.advance(cut)
    assert sim.applied_mw[0] == pytest.approx(0.7)
    if how == "broker":
        sim.set_controller_link(False)
    deadline = cut + timedelta(seconds=60 + 5)
    for t in sim.step_times(cut + timedelta(minutes=3)):
        sim.advance(t)
        if t >= deadline:
            assert sim.mode[0] == 1  # FALLBACK
            assert sim.applied_mw[0] == pytest.approx(0.0)


def test_expired_setpoints_are_never_applied() -> None:
    # every message arrives 20 min late: after its 15-min window
    faults = Faults(latency_s=(1200.0, 1200.0))
    sim = DeviceSimulator(
        fleet([ResourceType.BATTERY]), profiles(), START, noise=QUIET, faults=faults
    )
    sim.send_now([sp("d0", 1, 0.9, START, 15)])
    for t in sim.step_times(START + timedelta(minutes=30)):
        sim.advance(t)
        assert sim.mode[0] != 0  # never FOLLOWING
        assert sim.applied_mw[0] == 0.0
    acks = sim.drain_now().acks
    assert [a.status for a in acks] == [AckStatus.EXPIRED]


def test_offline_device_reports_nothing_and_random_faults_are_seeded() -> None:
    faults = Faults(schedule=(ScheduledFault("d1", "offline", START),))
    sim = DeviceSimulator(fleet([ResourceType.PV] * 2), profiles(), START, faults=faults)
    sim.advance(START + timedelta(minutes=5))
    assert {s.resource_id for s in sim.drain_now().telemetry} == {"d0"}
    runs = []
    for _ in range(2):
        s2 = DeviceSimulator(
            SimFleet.mixed(200, 3), profiles(), START, faults=Faults(fault_per_h=2.0), seed=9
        )
        s2.advance(START + timedelta(minutes=30))
        runs.append(s2.faulted.copy())
    assert runs[0].any()
    assert np.array_equal(runs[0], runs[1])


def test_mixed_fleet_arrays_are_in_the_fleet_order() -> None:
    kinds = [ResourceType.CURTAILABLE_LOAD, ResourceType.BATTERY, ResourceType.PV]
    kinds = kinds * 3
    sim = DeviceSimulator(fleet(kinds), profiles(), START, noise=QUIET)
    sim.send_now([sp("d4", 1, -0.4, START, 15)])  # the second battery
    sim.advance(START + timedelta(minutes=2))
    is_bat = np.array([k is ResourceType.BATTERY for k in kinds])
    assert np.isnan(sim.stored_mwh[~is_bat]).all()
    assert not np.isnan(sim.soc()[is_bat]).any()
    assert sim.applied_mw[4] == pytest.approx(-0.4)
    assert sim.applied_mw[[1, 7]] == pytest.approx([0.0, 0.0])
    assert np.all(sim.applied_mw[[0, 3, 6]] < 0)  # loads draw
    assert np.all(sim.available_mw[[2, 5, 8]] > 0)  # the sun is up in the morning ...
    assert np.all(sim.applied_mw[[2, 5, 8]] == 0)  # ... but without setpoints PV falls back to 0
    assert sim.mode.tolist() == [1, 1, 1, 1, 0, 1, 1, 1, 1]
    tel = {s.resource_id: s for s in sim.drain_now().telemetry}
    assert tel["d4"].mode is DeviceMode.FOLLOWING
    assert tel["d1"].soc == pytest.approx(0.5, abs=0.01)
    assert tel["d0"].soc is None


def test_parse_opsd_household_and_shape() -> None:
    import io

    from openvpp.dispatch.sim_data import SHARED_OPSD_FILE, opsd_shape, parse_opsd_household

    text = (
        "utc_timestamp,cet_cest_timestamp,X_grid_import,X_pv\n"
        "2016-06-01T00:00:00Z,,10.0,\n"
        "2016-06-01T01:00:00Z,,10.5,\n"
        "2016-06-01T02:00:00Z,,,\n"
        "2016-06-01T03:00:00Z,,12.5,\n"
    )
    kw = parse_opsd_household(io.StringIO(text))
    assert kw.tolist() == pytest.approx([0.5, 1.0])  # 2 kWh over the 2-hour gap: 1 kW
    if SHARED_OPSD_FILE.exists():
        day = datetime(2026, 6, 1, tzinfo=UTC)
        shape = opsd_shape(parse_opsd_household(SHARED_OPSD_FILE), day, day + timedelta(days=1))
        assert shape.max() == 1.0
        assert shape.min() >= 0.0
        assert shape.index[0] == day
