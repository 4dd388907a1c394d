"""The dispatch loop on every backend: an award (a fill) dispatched to the in-process device
simulator, acknowledgements and telemetry stored, a battery fault corrected within the
interval with higher-seq setpoints, the interval monitored (records, an alert once), the
residual traded intraday, instructions never answered expired.

Time is the test's ShiftClock; every tick advances the simulator to it (nothing sleeps)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from openvpp.core.errors import ValidationFailed
from openvpp.core.ids import new_id
from openvpp.demo.park import LATITUDE, LONGITUDE, NODE, seed_park
from openvpp.dispatch.instructions_service import InstructionFilter, InstructionRecord
from openvpp.dispatch.monitoring import thresholds_from
from openvpp.dispatch.protocol import Setpoint
from openvpp.dispatch.service import cut_grace, interval_start
from openvpp.dispatch.sim_fleet import Noise, ScheduledFault
from openvpp.identity.model import Principal, Role
from openvpp.markets.connections import ConnectionSpec
from openvpp.ops.model import AlertStatus
from openvpp.resources.telemetry import TelemetryPoint
from openvpp.resources.templates import ResourceType
from openvpp.runtime import Runtime
from openvpp.runtime_dispatch import dispatch_tick, trade_residual
from openvpp.seed import seed_demo
from openvpp.trading.records import FillRecord
from openvpp.vpp.model import VppSettings
from openvpp.vpp.service import MemberSpec
from tests.support import ShiftClock

Q = timedelta(minutes=15)
GRACE = timedelta(seconds=60)  # the default OPENVPP_DISPATCH_GRACE_S


@dataclass
class Site:
    org: str
    admin: Principal
    vpp: str
    x: str  # battery 1.5 MW / 3 MWh
    y: str  # battery 1.5 MW / 3 MWh
    pv: str
    start: datetime  # the awarded interval


def battery(rt: Runtime, admin: Principal, name: str) -> str:
    params = {"energy_mwh": 3.0, "p_charge_max_mw": 1.5, "p_discharge_max_mw": 1.5}
    r = rt.resources.create(
        rt.uow(),
        admin,
        name=name,
        resource_type=ResourceType.BATTERY,
        template_version=1,
        parameters=params,
        grid_node=NODE,
        latitude=LATITUDE,
        longitude=LONGITUDE,
    )
    return r.id


def award(rt: Runtime, site: Site, start: datetime, mw: str, side: str = "sell") -> None:
    """A fill of the VPP for the quarter-hour from ``start`` (as the fills feed stores it)."""
    now = rt.clock.now()
    with rt.uow() as uow:
        uow.trading_fills.add(
            FillRecord(
                id=new_id(),
                organization_id=site.org,
                connection_id="c-test",
                trade_id=new_id(),
                order_id=None,
                vpp_id=site.vpp,
                venue_order_id="v",
                client_order_id="c",
                market="EU-SIDC",
                product="QH",
                delivery_start=start,
                side=side,
                price=Decimal("80"),
                quantity=Decimal(mw),
                seq=1,
                executed_at=now,
                received_at=now,
            )
        )
        uow.commit()


def make_site(rt: Runtime, clock: ShiftClock) -> Site:
    """The demo park plus a storage VPP (two batteries, a PV plant) with its state of charge
    at 50 %, the clock 10 min before the awarded quarter-hour."""
    org = seed_demo(rt).organization_id
    admin = Principal("user", "t", org, frozenset({Role.ADMIN}), "t")
    seed_park(rt, admin, rt.clock.now())
    x, y = battery(rt, admin, "Battery X"), battery(rt, admin, "Battery Y")
    pv = rt.resources.create(
        rt.uow(),
        admin,
        name="Carport PV",
        resource_type=ResourceType.PV,
        template_version=1,
        parameters={"dc_capacity_mw": 0.5, "ac_capacity_mw": 0.4, "tilt_deg": 20.0},
        grid_node=NODE,
        latitude=LATITUDE,
        longitude=LONGITUDE,
    ).id
    now = rt.clock.now()
    vpp = rt.vpps.create(
        rt.uow(),
        admin,
        name="Storage",
        market_area="US-WACM",
        description="",
        settings=VppSettings(),
        members=[MemberSpec(r, Decimal(100), now - timedelta(days=1)) for r in (x, y, pv)],
    ).id
    start = interval_start(now) + 2 * Q
    clock.advance((start - timedelta(minutes=10) - now).total_seconds())
    at = rt.clock.now() - timedelta(seconds=5)
    points = [TelemetryPoint(r, at, 0.0, 0.5) for r in (x, y)] + [TelemetryPoint(pv, at, 0.0)]
    assert rt.telemetry.ingest_for(rt.uow(), org, points).accepted == 3
    return Site(org, admin, vpp, x, y, pv, start)


def instructions(rt: Runtime, site: Site, **kw: object) -> list[InstructionRecord]:
    with rt.uow(readonly=True) as uow:
        return uow.dispatch.page(site.org, InstructionFilter(site.vpp, **kw), 500, 0)  # type: ignore[arg-type]


def hold_and_sample(points: list[TelemetryPoint], start: datetime, end: datetime) -> float:
    """Sample-and-hold average power over [start, end) (each reading holds until the next,
    at most 5 min): the metering rule, computed independently."""
    pts = sorted(points, key=lambda p: p.ts)
    energy = covered = 0.0
    for i, p in enumerate(pts):
        until = min(pts[i + 1].ts if i + 1 < len(pts) else end, p.ts + timedelta(minutes=5), end)
        lo, hi = max(p.ts, start), until
        if hi > lo:
            dt = (hi - lo).total_seconds()
            energy += p.power_mw * dt
            covered += dt
    return energy / covered


def test_award_dispatched_corrected_monitored_and_traded(
    runtime: Runtime, clock: ShiftClock
) -> None:
    rt = runtime
    site = make_site(rt, clock)
    s = site.start
    rt.connections.create(
        rt.uow(),
        site.admin,
        ConnectionSpec(
            name="Sim",
            kind="simulated",
            markets=["EU-SIDC"],
            credentials={"api_key": "k-0123456789"},
        ),
    )
    award(rt, site, s, "1.5")
    award(rt, site, s + 2 * Q, "1.5")
    rt.dispatch.faults[site.org] = (ScheduledFault(site.y, "fault", s),)

    # 10 min before the award: nothing for the current interval (no award), the next one
    # dispatched to the batteries (0.75 MW each: equal headroom) and the PV at its baseline
    report = dispatch_tick(rt)
    assert [d["vpp_id"] for d in report["dispatched"]] == [site.vpp]  # type: ignore[index]
    sent = {r.resource_id: r for r in instructions(rt, site)}
    assert set(sent) == {site.x, site.y, site.pv}
    for r in sent.values():
        assert (r.valid_from, r.valid_until, r.seq) == (s, s + Q + GRACE, 1)
        assert r.status.value == "accepted" and r.acked_at is not None  # acks applied
    assert sent[site.x].p_mw == pytest.approx(0.75, abs=1e-6)
    assert sent[site.y].p_mw == pytest.approx(0.75, abs=1e-6)
    assert 0.0 <= sent[site.pv].p_mw <= 0.4
    assert sent[site.x].fallback_mw == 0.0  # a battery idles without instructions
    assert dispatch_tick(rt)["dispatched"] == []  # dispatched once

    # 6 min in: battery Y faulted at the start; its telemetry says so, X is re-dispatched up
    clock.move_to(s + timedelta(minutes=6))
    report = dispatch_tick(rt)
    assert report["telemetry"] > 0
    with rt.uow(readonly=True) as uow:
        ys = uow.telemetry.query(site.y, s, s + Q, 100)
        xs = uow.telemetry.query(site.x, s, s + Q, 100)
    # a faulted battery reads 0 MW but for its measurement noise (sigma: a share of its
    # 1.5 MW rating); 5 sigma, where 0.01 MW (3.3 sigma) failed now and then
    assert ys[-1].fault and abs(ys[-1].power_mw) < 5 * Noise().measurement * 1.5
    assert 0.7 < xs[-1].power_mw < 0.8  # following 0.75 MW
    assert [c["vpp_id"] for c in report["corrected"]] == [site.vpp]  # type: ignore[index]
    newer = [r for r in instructions(rt, site) if r.seq == 2]
    assert [r.resource_id for r in newer if r.resource_id != site.pv] == [site.x]
    x2 = next(r for r in newer if r.resource_id == site.x)
    assert timedelta(0) <= x2.valid_from - (s + timedelta(minutes=6)) < timedelta(seconds=5)
    assert x2.valid_until == s + Q + GRACE
    assert 0.75 < x2.p_mw <= 1.5  # up, within its limit
    assert x2.status.value == "accepted"

    # after the interval (and the settling minute): records, an alert for Y, once
    clock.move_to(s + Q + timedelta(seconds=61))
    report = dispatch_tick(rt)
    assert [m["interval_start"] for m in report["monitored"]] == [s.isoformat()]  # type: ignore[index]
    with rt.uow(readonly=True) as uow:
        recs = {
            r.resource_id: r
            for r in uow.monitoring.page(
                site.org, vpp_id=site.vpp, resource_id=None, start=s, end=s + Q, limit=10, offset=0
            )
        }
        ys = uow.telemetry.query(site.y, s - timedelta(minutes=5), s + Q, 100)
        xs = uow.telemetry.query(site.x, s - timedelta(minutes=5), s + Q, 100)
        alerts = uow.alerts.unresolved_from(site.org, "dispatch.monitoring")
    assert set(recs) == {site.x, site.y, site.pv, ""}
    assert recs[site.y].scheduled_mw == pytest.approx(0.75)
    assert recs[site.y].metered_mw == pytest.approx(hold_and_sample(ys, s, s + Q), abs=1e-9)
    assert recs[site.x].metered_mw == pytest.approx(hold_and_sample(xs, s, s + Q), abs=1e-9)
    assert recs[site.y].metered_mw == pytest.approx(0.0, abs=0.01)  # faulted throughout
    assert recs[site.y].severity == "critical"
    # X followed its instructions (0.75 MW for 6 min, then the correction): on schedule
    since = (x2.valid_from - s) / Q
    assert recs[site.x].scheduled_mw == pytest.approx(0.75 * since + x2.p_mw * (1 - since))
    assert recs[site.x].severity is None
    vpp = recs[""]
    assert vpp.scheduled_mw == pytest.approx(sum(r.p_mw for r in sent.values()))
    assert vpp.coverage >= 0.8 and vpp.interval_min == 15
    assert vpp.deviation_mw == pytest.approx(vpp.metered_mw - vpp.scheduled_mw)  # type: ignore[operator]
    assert [a.status for a in alerts if site.y in a.message] == [AlertStatus.OPEN]
    # the shortfall, expected to persist, bought intraday for the next awarded interval
    (traded,) = report["intraday"]  # type: ignore[misc]
    assert traded["orders"] and traded["orders"][0]["side"] == "buy"  # type: ignore[index]
    assert traded["orders"][0]["delivery_start"] == (s + 2 * Q).isoformat()  # type: ignore[index]
    assert "error" not in traded["results"][0]  # type: ignore[index]

    # monitored once: a later tick raises nothing again
    clock.move_to(s + Q + timedelta(minutes=3))
    assert dispatch_tick(rt)["monitored"] == []
    with rt.uow(readonly=True) as uow:
        assert len(uow.alerts.unresolved_from(site.org, "dispatch.monitoring")) == len(alerts)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_unawarded_intervals_get_nothing_and_lost_setpoints_expire(
    runtime: Runtime, clock: ShiftClock
) -> None:
    rt = runtime
    site = make_site(rt, clock)
    s = site.start
    assert dispatch_tick(rt)["dispatched"] == []  # no award: no setpoint
    assert instructions(rt, site) == []
    award(rt, site, s, "1.0")
    sim = rt.dispatch.simulator(site.org)
    assert sim is not None
    sim.set_controller_link(False)  # a broker outage: the setpoints never arrive
    dispatch_tick(rt)
    sent = instructions(rt, site)
    assert {r.status.value for r in sent} == {"sent"}
    bats = [r for r in sent if r.resource_id in (site.x, site.y)]
    assert [round(r.p_mw, 6) for r in bats] == [0.5, 0.5]
    row = list(sim.fleet.resource_ids).index(site.x)
    clock.move_to(s + timedelta(minutes=7))
    dispatch_tick(rt)
    # mid-interval: the device is at its fallback (idle), not at the lost 0.5 MW
    assert abs(float(sim.applied_mw[row])) < 0.05
    clock.move_to(s + Q + GRACE + timedelta(seconds=1))
    dispatch_tick(rt)
    after = instructions(rt, site)
    assert {r.status.value for r in after} == {"expired"}
    assert all(r.acked_at is None for r in after)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_park_flex_loads_and_a_shared_battery(runtime: Runtime, clock: ShiftClock) -> None:
    """The demo's flexibility VPP: loads on their profiles (not a zero baseline), Battery A
    dispatched only within its 40 % share (the other 60 % held at its baseline, idle)."""
    rt = runtime
    site = make_site(rt, clock)
    with rt.uow(readonly=True) as uow:
        flex = next(v for v in uow.vpps.list_all(site.org) if v.name == "Park Flex")
        members = {a.unit.id: a for a in uow.vpps.allocations(flex.id)[0]}
    site.vpp = flex.id
    award(rt, site, site.start, "0.4")
    report = dispatch_tick(rt)
    (batch,) = report["dispatched"]  # type: ignore[misc]
    assert not [n for n in batch["notes"] if "baseline 0" in n]  # type: ignore[index]
    sent = {r.resource_id: r for r in instructions(rt, site)}
    assert set(sent) == set(members)
    kinds = {rid: a.unit.resource_type for rid, a in members.items()}
    for rid, r in sent.items():
        if kinds[rid] is ResourceType.BATTERY:
            share = float(members[rid].share_pct) / 100
            cap = float(members[rid].unit.parameters["p_discharge_max_mw"])
            assert abs(r.p_mw) <= share * cap + 1e-9
            assert r.fallback_mw == 0.0
        else:  # loads consume (or are curtailed), never inject, and fall back to their
            # baseline: none at hours when the profile idles them (the cold store once its day's
            # energy is in, an empty EV depot), so this holds at any time of day
            assert r.p_mw <= 1e-9 and r.fallback_mw <= 0.0, (kinds[rid], r.p_mw, r.fallback_mw)
    process = next(r for rid, r in sent.items() if kinds[rid] is ResourceType.CURTAILABLE_LOAD)
    assert -1.5 <= process.p_mw < 0.0  # peak 1.5 MW, at most 30 % curtailed
    assert process.fallback_mw < 0.0  # its profile never idles it


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_lost_acks_are_settled_by_heartbeats(runtime: Runtime, clock: ShiftClock) -> None:
    rt = runtime
    site = make_site(rt, clock)
    award(rt, site, site.start, "1.0")
    d = rt.dispatch
    gw = d.gateway(rt.uow(), site.org)
    assert gw is not None
    batch = d.service.dispatch(rt.uow(), site.org, site.vpp, served=gw.resource_ids)
    assert batch is not None
    d.send(gw, batch)
    assert d.drain(gw).acks  # the acks are lost on their way
    sent = instructions(rt, site)
    assert {r.status.value for r in sent} == {"sent"}
    clock.move_to(site.start + timedelta(minutes=6))  # a heartbeat every 5 min
    dispatch_tick(rt)
    # only the lost ones: the tick may also correct the interval (by day the PV plant's
    # output departs from its forecast), and those instructions are acknowledged as usual
    after = [r for r in instructions(rt, site) if r.id in {s.id for s in sent}]
    assert len(after) == len(sent)
    assert {(r.status.value, r.reason) for r in after} == {("accepted", "following (heartbeat)")}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_residual_without_an_intraday_connection_is_recorded_untraded(
    runtime: Runtime, clock: ShiftClock
) -> None:
    rt = runtime
    site = make_site(rt, clock)
    s = site.start
    award(rt, site, s + Q, "1.0")  # the next awarded quarter-hour after s
    clock.move_to(s + timedelta(minutes=1))
    out = trade_residual(rt, site.org, site.vpp, s - Q, -0.5)
    assert out is not None and out["orders"] == [] and "results" not in out
    assert out["reason"] == "no enabled connection serves EU-SIDC"
    assert out["untraded_mw"] == {(s + Q).isoformat(): pytest.approx(-0.5 * 0.5**0.25)}
    with rt.uow(readonly=True) as uow:
        (row,) = uow.audit.list(site.org, action="dispatch.intraday", after_seq=None, limit=5)
    assert row.outcome == "rejected" and row.object_id == site.vpp
    assert "no enabled connection" in (row.after or "")
    assert trade_residual(rt, site.org, site.vpp, s - Q, 0.0) is None  # nothing to trade


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def _two_ignored_intervals(
    rt: Runtime, site: Site, clock: ShiftClock
) -> tuple[dict[str, object], dict[str, object]]:
    """Two awarded intervals in a row while battery Y ignores its setpoints: the dispatch
    reports after each was monitored."""
    s = site.start
    award(rt, site, s, "1.5")
    award(rt, site, s + Q, "1.5")
    rt.dispatch.faults[site.org] = (ScheduledFault(site.y, "ignore", s - Q),)
    dispatch_tick(rt)
    clock.move_to(s + Q + timedelta(seconds=61))
    first = dispatch_tick(rt)
    clock.move_to(s + 2 * Q + timedelta(seconds=61))
    return first, dispatch_tick(rt)


def test_alert_after_consecutive_intervals(runtime: Runtime, clock: ShiftClock) -> None:
    """With ``consecutive: 2`` a device ignoring its setpoints is alerted at the second
    interval in a row, not the first: the streak spans stored records."""
    rt = runtime
    rt.dispatch.monitoring.thresholds = thresholds_from({"consecutive": 2})
    site = make_site(rt, clock)
    s = site.start
    first, second = _two_ignored_intervals(rt, site, clock)
    assert [m["alerts"] for m in first["monitored"]] == [0]  # type: ignore[index]
    assert [m["interval_start"] for m in second["monitored"]] == [(s + Q).isoformat()]  # type: ignore[index]
    with rt.uow(readonly=True) as uow:
        found = uow.alerts.unresolved_from(site.org, "dispatch.monitoring")
        ys = uow.monitoring.page(
            site.org, vpp_id=site.vpp, resource_id=site.y, start=s, end=s + 2 * Q, limit=5, offset=0
        )
    assert [(r.interval_start, r.severity) for r in ys] == [(s + Q, "critical"), (s, None)]
    (alert,) = [a for a in found if site.y in a.message]
    assert "2 interval(s) in a row" in alert.message


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_correction_ends_where_the_next_interval_is_dispatched(
    runtime: Runtime, clock: ShiftClock
) -> None:
    """The next interval's setpoint (dispatched earlier, a lower seq) takes over at the
    interval's end: a correction has no grace over it."""
    rt = runtime
    site = make_site(rt, clock)
    s = site.start
    award(rt, site, s, "1.5")
    award(rt, site, s + Q, "0.3")
    rt.dispatch.faults[site.org] = (ScheduledFault(site.y, "fault", s),)
    dispatch_tick(rt)
    clock.move_to(s + timedelta(minutes=6))
    report = dispatch_tick(rt)
    assert report["dispatched"] and report["corrected"]  # the next interval, then the fix
    xs = {r.seq: r for r in instructions(rt, site, resource_id=site.x)}
    assert sorted(xs) == [1, 2, 3]
    assert (xs[2].valid_from, xs[2].p_mw) == (s + Q, pytest.approx(0.3, abs=1e-6))
    assert xs[3].valid_until == s + Q and xs[3].p_mw > 0.75  # the correction, no grace
    assert site.y not in {r.resource_id for r in instructions(rt, site) if r.valid_from == s + Q}
    clock.move_to(s + Q + timedelta(seconds=30))
    dispatch_tick(rt)
    sim = rt.dispatch.simulator(site.org)
    assert sim is not None
    x = float(sim.applied_mw[list(sim.fleet.resource_ids).index(site.x)])
    assert x == pytest.approx(0.3, abs=0.05)  # the next interval's plan, not the correction


def test_cut_grace_only_over_a_later_instruction() -> None:
    s = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    sp = Setpoint("r:5", "o", "r", 5, 1.0, s, s + Q + GRACE, 0.0, s)
    assert cut_grace(sp, {"r"}, s + Q) == s + Q
    assert cut_grace(sp, {"other"}, s + Q) == s + Q + GRACE
    assert cut_grace(replace(sp, valid_until=s + Q), {"r"}, s + Q) == s + Q


def test_thresholds_from_settings_name_the_bad_key() -> None:
    th = thresholds_from({"warning_mw": 0.2, "critical_pct": 30, "consecutive": 2})
    assert (th.warning.abs_mw, th.warning.rel_pct, th.critical.rel_pct) == (0.2, 5.0, 30.0)
    assert th.consecutive == 2 and th.min_coverage == 0.8
    with pytest.raises(ValidationFailed, match="warn_mw") as bad:
        thresholds_from({"warn_mw": 1.0})
    assert bad.value.field == "monitoring_thresholds"
    with pytest.raises(ValidationFailed, match="critical"):
        thresholds_from({"warning_mw": 1.0})  # above the critical default


def test_a_vpps_own_thresholds_replace_the_servers(runtime: Runtime, clock: ShiftClock) -> None:
    """The server alerts at the first deviating interval (``consecutive`` 1); the VPP's
    parameters ask for two in a row, and win (the other keys stay the server's)."""
    rt = runtime
    site = make_site(rt, clock)
    s = site.start
    rt.vpps.set_settings(
        rt.uow(),
        site.admin,
        site.vpp,
        VppSettings(monitoring_thresholds={"consecutive": 2}),
        s - Q,
    )
    with rt.uow(readonly=True) as uow:
        own = rt.dispatch.monitoring.thresholds_of(uow, site.vpp, s)
    assert own.consecutive == 2
    assert own.warning == rt.dispatch.monitoring.thresholds.warning
    first, second = _two_ignored_intervals(rt, site, clock)
    assert [m["alerts"] for m in first["monitored"]] == [0]  # type: ignore[index]
    assert [m["alerts"] for m in second["monitored"]] != [0]  # type: ignore[index]


def test_vpp_thresholds_are_validated_naming_the_key() -> None:
    with pytest.raises(ValueError, match="warn_mw"):
        VppSettings(monitoring_thresholds={"warn_mw": 1.0})
    with pytest.raises(ValueError, match="critical"):
        VppSettings(monitoring_thresholds={"warning_mw": 1.0})
    assert VppSettings(monitoring_thresholds={"warning_mw": 0.2}).monitoring_thresholds == {
        "warning_mw": 0.2
    }
