"""Composition of dispatch and monitoring as a running service: one device gateway per
organization (the in-process device simulator built from the VPP members' resources, or MQTT),
the tick that pumps telemetry and acknowledgements into the store, dispatches awards, corrects
within the interval, monitors ended intervals and trades residuals; the ``dispatch.tick`` job
kind and the API server's ``dispatch_loop``. See docs/dispatch_service.md."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.exc import IntegrityError

from openvpp.aggregation.engine import Unit
from openvpp.audit.chain import AuditContext
from openvpp.config import Settings
from openvpp.core.clock import Clock
from openvpp.core.errors import Conflict
from openvpp.dispatch.correction_service import CorrectionService
from openvpp.dispatch.gateway_service import sim_fleet, telemetry_points
from openvpp.dispatch.intraday_service import IntradayService
from openvpp.dispatch.monitoring import thresholds_from
from openvpp.dispatch.monitoring_service import MonitoringService
from openvpp.dispatch.mqtt import GatewayStats, MqttGateway, MqttOptions
from openvpp.dispatch.protocol import Ack, AckStatus, DeviceGateway, DeviceMode, GatewayEvents
from openvpp.dispatch.service import DispatchBatch, DispatchPolicy, DispatchService
from openvpp.dispatch.sim_data import Profiles
from openvpp.dispatch.sim_fleet import SIMULATED, Faults, ScheduledFault
from openvpp.dispatch.simulator import DeviceSimulator
from openvpp.identity.model import Principal, Role
from openvpp.jobs.registry import JobContext, JobRegistry
from openvpp.ports import UnitOfWork
from openvpp.resources.telemetry import TelemetryPoint
from openvpp.runtime_loops import every

if TYPE_CHECKING:
    from openvpp.runtime import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")
DISPATCHERS = frozenset({"admin", "operator", "trader"})
PROFILE_SPAN = timedelta(days=2)  # the simulator's weather and load profiles; rebuilt after


class _Loop:
    """One event loop thread for the gateways' coroutines (MQTT keeps its connection on it)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="gateways")
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


@dataclass
class OrgGateway:
    organization_id: str
    gateway: DeviceGateway
    resource_ids: frozenset[str]
    simulator: DeviceSimulator | None = None
    valid_until: datetime | None = None  # profiles end (simulator): rebuilt after


@dataclass
class TickReport:
    telemetry: int = 0
    acks: int = 0
    dispatched: list[dict[str, object]] = field(default_factory=list)
    corrected: list[dict[str, object]] = field(default_factory=list)
    monitored: list[dict[str, object]] = field(default_factory=list)
    intraday: list[dict[str, object]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class DispatchRuntime:
    """The gateways and the dispatch, monitoring and intraday services of one process."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        policy = DispatchPolicy(
            grace=timedelta(seconds=settings.dispatch_grace_s),
            deadband_mw=settings.dispatch_deadband_mw,
            correction_every=timedelta(seconds=settings.dispatch_correction_every_s),
        )
        self.service = DispatchService(clock, policy)
        self.correction = CorrectionService(clock, policy)
        self.monitoring = MonitoringService(
            clock,
            thresholds_from(settings.monitoring_thresholds),
            settle=timedelta(seconds=settings.monitoring_settle_s),
        )
        self.intraday = IntradayService(clock)
        self.faults: dict[str, tuple[ScheduledFault, ...]] = {}
        """Scheduled simulator faults per organization (tests, demos)."""
        self._gateways: dict[str, OrgGateway] = {}
        self._lock = threading.RLock()
        self._org_locks: dict[str, threading.Lock] = {}
        self._loop: _Loop | None = None

    def _runner(self) -> _Loop:
        if self._loop is None:
            self._loop = _Loop()
        return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner().run(coro)

    def close(self) -> None:
        with self._lock:
            for gw in self._gateways.values():
                try:
                    self.run(gw.gateway.aclose())
                except Exception:
                    log.exception("closing the gateway of %s", gw.organization_id)
            self._gateways.clear()
            if self._loop is not None:
                self._loop.stop()
                self._loop = None

    # -- gateways --------------------------------------------------------------------------

    def gateway(self, uow: UnitOfWork, organization_id: str) -> OrgGateway | None:
        """The organization's gateway; the simulator is (re)built when the VPP members change
        or its profiles run out, from the members' current stored state."""
        with uow:
            units: dict[str, Unit] = {}
            readings: dict[str, TelemetryPoint] = {}
            for vpp in uow.vpps.list_all(organization_id):
                allocations, latest = uow.vpps.allocations(vpp.id)
                units.update({a.unit.id: a.unit for a in allocations})
                readings.update(latest)
        now = self.clock.now()
        with self._lock:
            gw = self._gateways.get(organization_id)
            if self.settings.dispatch_gateway == "mqtt":
                if gw is None:
                    gw = OrgGateway(organization_id, self._mqtt(organization_id), frozenset(units))
                    self._gateways[organization_id] = gw
                gw.resource_ids = frozenset(units)
                return gw
            simulated = frozenset(u for u, x in units.items() if x.resource_type in SIMULATED)
            stale = gw is None or gw.resource_ids != simulated
            if gw is not None and gw.valid_until is not None and now >= gw.valid_until:
                stale = True
            if not stale:
                return gw
            if gw is not None:
                self.run(gw.gateway.aclose())
                del self._gateways[organization_id]
            if not simulated:
                return None
            ordered = [units[u] for u in sorted(simulated)]
            start = now - timedelta(seconds=1)
            sim = DeviceSimulator(
                sim_fleet(ordered, readings),
                Profiles.from_data(start, start + PROFILE_SPAN),
                start,
                faults=Faults(schedule=self.faults.get(organization_id, ())),
                link_timeout_s=max(60.0, 3 * self.settings.dispatch_interval_s),
                seed=len(self._gateways),
            )
            gw = OrgGateway(organization_id, sim, simulated, sim, start + PROFILE_SPAN)
            self._gateways[organization_id] = gw
            return gw

    def mqtt_links(self) -> tuple[GatewayStats, int, int]:
        """The MQTT gateways' counters summed, how many gateways there are and how many of
        them are connected to the broker now (the ``/metrics`` figures)."""
        total = GatewayStats()
        # Not under ``_lock``: it is held across gateway calls that may wait for the broker,
        # and a scrape must not wait for them (copying the values is atomic under the GIL).
        current = list(self._gateways.values())
        gateways = [g.gateway for g in current if isinstance(g.gateway, MqttGateway)]
        for gateway in gateways:
            total.add(gateway.stats)
        connected = sum(g.link.connected.is_set() for g in gateways)
        return total, len(gateways), connected

    def _mqtt(self, organization_id: str) -> MqttGateway:
        options = MqttOptions.from_url(
            self.settings.mqtt_url,
            topic_prefix=self.settings.mqtt_topic_prefix,
            keepalive_s=self.settings.mqtt_keepalive_s,
            heartbeat_s=self.settings.mqtt_heartbeat_s,
            resend_after_s=self.settings.mqtt_resend_after_s,
        )

        async def start() -> MqttGateway:
            gw = MqttGateway(options, organization_id, clock=self.clock)
            await gw.start()
            return gw

        return self.run(start())

    def org_lock(self, organization_id: str) -> threading.Lock:
        """Serializes one organization's rounds in this process (the loop, jobs and
        ``POST /dispatch/run``): two dispatchers never race for the same sequence numbers.
        Across processes the store's unique (resource, seq) key refuses the second."""
        with self._lock:
            return self._org_locks.setdefault(organization_id, threading.Lock())

    def simulator(self, organization_id: str) -> DeviceSimulator | None:
        gw = self._gateways.get(organization_id)
        return None if gw is None else gw.simulator

    def drain(self, gw: OrgGateway) -> GatewayEvents:
        with self._lock:
            if gw.simulator is not None:
                gw.simulator.advance(self.clock.now())
            return self.run(gw.gateway.drain())

    def send(self, gw: OrgGateway, batch: DispatchBatch) -> None:
        with self._lock:
            if gw.simulator is not None:  # delivered at the simulated now, not before
                gw.simulator.advance(self.clock.now())
            self.run(gw.gateway.send(batch.setpoints))


def system_uow(rt: Runtime, organization_id: str | None) -> UnitOfWork:
    """A unit of work whose audit rows name the dispatch system as actor."""
    return rt.uow(
        AuditContext(actor_type="system", actor_id="dispatch", organization_id=organization_id)
    )


def pump(rt: Runtime, gw: OrgGateway, report: TickReport) -> None:
    """Advance the simulator to now; ingest its telemetry through the telemetry service (the
    API shows it); apply acknowledgements, and heartbeats of devices following an instruction
    whose ack was lost (the instruction counts as accepted); expire unanswered instructions."""
    d = rt.dispatch
    org = gw.organization_id
    events = d.drain(gw)
    points = telemetry_points(events)
    if points:
        result = rt.telemetry.ingest_for(system_uow(rt, org), org, points)
        report.telemetry += result.accepted
    acks = events.acks + following(events)
    report.acks += d.service.apply_acks(system_uow(rt, org), org, acks)


def following(events: GatewayEvents) -> list[Ack]:
    """A heartbeat naming the instruction its device follows is that instruction's proof of
    acceptance (applied only to instructions still ``sent``: a lost ack)."""
    return [
        Ack(h.instruction_id, h.resource_id, AckStatus.ACCEPTED, h.at, "following (heartbeat)")
        for h in events.heartbeats
        if h.instruction_id and h.mode is DeviceMode.FOLLOWING
    ]


def dispatch_vpp(
    rt: Runtime, organization_id: str, vpp_id: str, *, uow: UnitOfWork | None = None
) -> dict[str, object]:
    """Dispatch one VPP's current and next interval now (the API's ``POST /dispatch/run``;
    ``uow`` carries the caller's audit context): returns the batch summary (``setpoints`` 0:
    nothing awarded, dispatched already, or no gateway reaches the members)."""
    with rt.dispatch.org_lock(organization_id):
        return _dispatch_vpp(rt, organization_id, vpp_id, uow)


def _dispatch_vpp(
    rt: Runtime, organization_id: str, vpp_id: str, uow: UnitOfWork | None
) -> dict[str, object]:
    d = rt.dispatch
    gw = d.gateway(system_uow(rt, organization_id), organization_id)
    served = None if gw is None else gw.resource_ids
    report = TickReport()
    if gw is not None:
        pump(rt, gw, report)
    try:
        batch = d.service.dispatch(
            uow or system_uow(rt, organization_id),
            organization_id,
            vpp_id,
            served=served or frozenset(),
        )
    except IntegrityError as exc:  # another process dispatched the same resources meanwhile
        raise Conflict(
            "the VPP was dispatched concurrently; its instructions are stored", field="vpp_id"
        ) from exc
    if batch is None:
        return {"vpp_id": vpp_id, "kind": "dispatch", "intervals": [], "setpoints": 0}
    if gw is not None:
        d.send(gw, batch)
        pump(rt, gw, report)
    return batch.summary()


def dispatch_tick(rt: Runtime, organization_id: str | None = None) -> dict[str, object]:
    """One round for every organization (or one): pump the gateway, dispatch awards, correct
    the interval in progress, monitor ended intervals and trade residuals."""
    report = TickReport()
    with rt.uow(readonly=True) as uow:
        orgs = (
            [o.id for o in uow.organizations.list()]
            if organization_id is None
            else [organization_id]
        )
    for org in orgs:
        try:
            with rt.dispatch.org_lock(org):
                _tick_org(rt, org, report)
        except Exception:  # one organization's failure must not stop the others
            log.exception("dispatch tick of organization %s", org)
    return report.as_dict()


def _tick_org(rt: Runtime, org: str, report: TickReport) -> None:
    d = rt.dispatch
    with rt.uow(readonly=True) as uow:
        vpps = [v.id for v in uow.vpps.list_all(org)]
    if not vpps:
        return
    gw = d.gateway(system_uow(rt, org), org)
    if gw is None:
        return
    pump(rt, gw, report)
    sent = False
    for vpp in vpps:
        batch = d.service.dispatch(system_uow(rt, org), org, vpp, served=gw.resource_ids)
        if batch is not None:
            d.send(gw, batch)
            report.dispatched.append(batch.summary())
            sent = True
        batch = d.correction.correct(system_uow(rt, org), org, vpp, served=gw.resource_ids)
        if batch is not None:
            d.send(gw, batch)
            report.corrected.append(batch.summary())
            sent = True
    if sent:
        pump(rt, gw, report)
    for vpp, start in d.monitoring.due(rt.uow(readonly=True), org):
        result = d.monitoring.monitor(system_uow(rt, org), org, vpp, start)
        if result is None or not result.new:
            continue
        vpp_row = result.records[-1]
        report.monitored.append(
            {
                "vpp_id": vpp,
                "interval_start": start.isoformat(),
                "deviation_mw": vpp_row.deviation_mw,
                "alerts": len(result.alerts),
            }
        )
        if vpp_row.deviation_mw is not None:
            traded = trade_residual(rt, org, vpp, start, vpp_row.deviation_mw)
            if traded is not None:
                report.intraday.append(traded)


def trade_residual(
    rt: Runtime, organization_id: str, vpp_id: str, monitored: datetime, deviation_mw: float
) -> dict[str, object] | None:
    """Trade the expected residual of the VPP's later awarded intervals intraday through the
    order service's group commit (``submit_many``: risk checks, idempotent by client order
    id)."""
    plan = rt.dispatch.intraday.plan(
        system_uow(rt, organization_id), organization_id, vpp_id, monitored, deviation_mw
    )
    if plan is None:
        return None
    out = plan.summary()
    if plan.orders:
        principal = Principal(
            "api_key", "dispatch", organization_id, frozenset({Role.TRADER}), "dispatch"
        )
        results = rt.trading.submissions.submit_many(
            system_uow(rt, organization_id), principal, list(plan.orders)
        )
        out["results"] = [
            {"error": str(r)}
            if isinstance(r, Exception)
            else {"order_id": r.order.id, "state": r.order.state.value}
            for r in results
        ]
    return out


async def dispatch_loop(rt: Runtime, interval_s: float) -> None:
    """Tick every ``interval_s`` [s] (the API server, next to the trading loop)."""
    await every(
        interval_s, partial(dispatch_tick, rt), "dispatch", log, wait_first=True, report=False
    )


def build_dispatch(settings: Settings, clock: Clock) -> DispatchRuntime:
    return DispatchRuntime(settings, clock)


def register_dispatch_jobs(registry: JobRegistry, rt: Runtime) -> None:
    def tick(ctx: JobContext) -> dict[str, Any]:
        ctx.progress(0.1, "dispatch, telemetry and monitoring", force=True)
        return dispatch_tick(rt, ctx.organization_id)

    registry.register(
        "dispatch.tick",
        tick,
        description="One round of the dispatch loop for the organization: device telemetry "
        "and acknowledgements stored, awards dispatched, the interval in progress corrected, "
        "ended intervals monitored (alerts) and residuals traded intraday.",
        roles=DISPATCHERS,
    )
