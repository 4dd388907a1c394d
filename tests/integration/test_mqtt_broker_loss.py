"""Broker loss, against a Mosquitto this module starts on a free port and kills or restarts
(RELIABILITY items 8 and 9): the device falls back to its safe setpoint within the link
timeout + one cycle, an expired setpoint is never sent or applied after the reconnect, and a
broker restart under telemetry load at QoS 1 loses and duplicates nothing. Skipped when the
``mosquitto`` binary is absent (also in CI, whose broker may be a container without one)."""

from __future__ import annotations

import asyncio
import getpass
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from openvpp.api.metrics import runtime_registry
from openvpp.dispatch.device import DeviceController
from openvpp.dispatch.mqtt import MqttGateway, MqttOptions
from openvpp.dispatch.mqtt_codec import Topics, encode_telemetry
from openvpp.dispatch.mqtt_device import MqttDeviceAgent
from openvpp.dispatch.protocol import DeviceMode, TelemetrySample
from openvpp.runtime import Runtime
from openvpp.runtime_dispatch import OrgGateway, TickReport, pump
from tests.integration.test_dispatch_loop import make_site
from tests.integration.test_mqtt_gateway import (
    CYCLE_S,
    HEARTBEAT_S,
    Collector,
    assert_fail_safe,
    controller,
    fast,
    free_port,
    new_org,
    run,
    setpoint,
    until,
)
from tests.support import MetricKey, ShiftClock, metric_samples, telemetry_points_key

pytestmark = pytest.mark.services

CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or next((p for p in CANDIDATES if Path(p).exists()), None)
    if found is None:  # a skip even in CI: the broker there may be a container without one
        pytest.skip("the mosquitto binary is not installed (apt install mosquitto)")
    return found


class Broker:
    """A private Mosquitto: persistent sessions saved on shutdown, no Nagle delay, no limit
    on the messages queued for an offline persistent client."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.workdir = workdir
        self.log = workdir / "mosquitto.log"
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"user {getpass.getuser()}\n"
            "persistence true\n"
            f"persistence_location {workdir}/\n"
            "set_tcp_nodelay true\n"
            "max_queued_messages 0\n"
            f"log_dest file {self.log}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    return
            except OSError:
                time.sleep(0.02)
        log = self.log.read_text() if self.log.exists() else ""
        raise AssertionError(f"mosquitto did not start on port {self.port}:\n{log[-2000:]}")

    def stop(self, sig: signal.Signals) -> None:
        """SIGKILL: a crash; SIGTERM: a clean shutdown that saves the persistent sessions."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)
        self.process = None


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(mosquitto_binary(), tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop(signal.SIGKILL)


def test_broker_killed_device_falls_back_and_expired_setpoints_stay_unsent(
    own_broker: Broker,
) -> None:
    options = fast(MqttOptions(port=own_broker.port))
    org = new_org()

    async def body() -> None:
        device = MqttDeviceAgent(options, org, controller(), cycle_s=CYCLE_S)
        async with MqttGateway(options, org) as gateway, device:
            assert await gateway.wait_connected(5)
            assert await device.wait_connected(5)
            lasting = setpoint(org, 1, 3.0, 60)
            await gateway.send([lasting])
            await until(lambda: device.applied[-1].mode is DeviceMode.FOLLOWING, "following")
            await until(lambda: device.stats.controller_heartbeats >= 2, "heartbeats")

            own_broker.stop(signal.SIGKILL)
            await until(lambda: device.applied[-1].mode is DeviceMode.FALLBACK, "fallback")
            assert_fail_safe(device)
            assert not gateway.link.connected.is_set()

            short = setpoint(org, 2, -4.0, 0.3)  # sent while the broker is down
            await gateway.send([short])
            assert gateway.pending == 1
            await asyncio.sleep(0.4)  # ... and expired before it comes back

            own_broker.start()
            await until(lambda: gateway.link.connections == 2, "the gateway reconnected")
            await until(lambda: device.link.connections == 2, "the device reconnected")
            await until(
                lambda: device.applied[-1].mode is DeviceMode.FOLLOWING,
                "following the lasting setpoint again",
            )
            assert gateway.pending == 0
            assert gateway.stats.expired_unsent == 1
            assert gateway.stats.published == 1
            assert device.stats.setpoints == 1
            assert all(a.instruction_id != short.instruction_id for a in device.applied)
            assert device.applied[-1].instruction_id == lasting.instruction_id

    run(body)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["restart", "crash"])
def test_broker_restart_under_load_loses_and_duplicates_no_telemetry(
    own_broker: Broker, how: signal.Signals
) -> None:
    """A clean restart keeps what the broker acknowledged (its persistence); a crash loses
    some of it (measured: up to ~100 of ~800 samples), which the gateway asks the devices
    for again."""
    options = fast(MqttOptions(port=own_broker.port))
    org = new_org()
    resources = [f"bat-{i}" for i in range(4)]

    async def body() -> None:
        devices = [MqttDeviceAgent(options, org, controller(r), cycle_s=None) for r in resources]
        gateway = MqttGateway(options, org)
        events = Collector(gateway)
        stop = asyncio.Event()

        async def produce() -> None:  # ~4 x 250 samples/s, broker up or not
            while not stop.is_set():
                for device in devices:
                    device.step()
                await asyncio.sleep(0.004)

        async with gateway:
            for device in devices:
                await device.start()
            assert await gateway.wait_connected(5)
            for device in devices:
                assert await device.wait_connected(5)
            producer = asyncio.create_task(produce())
            await until(lambda: gateway.stats.received["telemetry"] >= 400, "load is flowing")

            own_broker.stop(how)
            await until(lambda: all(d.pending > 20 for d in devices), "samples pile up")
            own_broker.start()
            await until(lambda: gateway.link.connections == 2, "the gateway reconnected")
            await until(lambda: all(d.link.connections == 2 for d in devices), "reconnected")
            await asyncio.sleep(0.3)
            stop.set()
            await producer

            expected = {d.resource_id: d.next_seq for d in devices}
            await events.until(
                lambda e: len(e.telemetry) >= sum(expected.values()),
                "every sample arrived",
            )
            await asyncio.sleep(0.2)  # late copies, if any, would show up now
            await events.collect()
            for device in devices:
                await device.aclose()

        got: dict[str, list[int]] = {r: [] for r in resources}
        for sample in events.events.telemetry:
            got[sample.resource_id].append(sample.seq)
        for resource, n in expected.items():
            assert sorted(got[resource]) == list(range(n)), resource  # none lost, none twice
        assert gateway.stats.malformed == 0
        assert gateway.stats.telemetry_missing == gateway.stats.telemetry_unrecovered == 0
        assert sum(d.stats.dropped for d in devices) == 0
        if how is signal.SIGTERM:
            assert gateway.stats.resend_requests == 0
        received = gateway.stats.received["telemetry"]
        assert received == len(events.events.telemetry) + gateway.stats.duplicate_telemetry

    run(body, timeout=60)


@pytest.fixture
def settings_overrides(own_broker: Broker) -> dict[str, object]:
    """The runtime's dispatch loop talks MQTT to this module's own broker."""
    return {
        "dispatch_gateway": "mqtt",
        "mqtt_url": f"mqtt://127.0.0.1:{own_broker.port}",
        "mqtt_heartbeat_s": HEARTBEAT_S,
        "mqtt_resend_after_s": 0.2,
    }


def pump_until(rt: Runtime, gw: OrgGateway, check: Callable[[], bool], what: str) -> None:
    """Run the dispatch loop's telemetry pump (drain the gateway, store what it got) until
    ``check`` holds; a liveness bound, not a performance figure."""
    deadline = time.monotonic() + 15
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}: {gw.gateway}")
        pump(rt, gw, TickReport())
        time.sleep(0.02)


def stored(rt: Runtime, resource_id: str, after: datetime) -> list[datetime]:
    with rt.uow(readonly=True) as uow:
        return [p.ts for p in uow.telemetry.query(resource_id, after, None, 100_000)]


OUT_OF_RANGE = telemetry_points_key("rejected", "out_of_range")


def scraped(rt: Runtime) -> dict[MetricKey, float]:
    """The runtime's own ``/metrics`` figures by (sample name, labels)."""
    return metric_samples(generate_latest(runtime_registry(rt)).decode())


async def _finished(task: asyncio.Task[None]) -> None:
    await task


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"], indirect=True)
def test_broker_restart_under_load_stores_every_reading_once(
    runtime: Runtime, clock: ShiftClock, own_broker: Broker
) -> None:
    """RELIABILITY item 9 end to end: devices publish telemetry at QoS 1 at ~250 readings/s
    each while the broker crashes (SIGKILL) and comes back; the dispatch loop's pump stores
    what its gateway receives, including what the gateway asked the devices to send again.
    Afterwards each device's readings are stored exactly once (none lost, none twice), and a
    NaN and an implausible reading are refused and counted on /metrics."""
    rt = runtime
    site = make_site(rt, clock)
    since = rt.clock.now()
    base = rt.telemetry.totals()
    d = rt.dispatch
    gw = d.gateway(rt.uow(), site.org)
    assert gw is not None and isinstance(gw.gateway, MqttGateway)
    gateway = gw.gateway
    options = fast(MqttOptions(port=own_broker.port))
    agents = [
        MqttDeviceAgent(
            options,
            site.org,
            DeviceController(r, p_min_mw=-1.0, p_max_mw=1.0, link_timeout_s=5.0),
            clock=rt.clock,
            cycle_s=None,
        )
        for r in (site.x, site.y, site.pv)
    ]
    stop = threading.Event()

    async def produce() -> None:
        while not stop.is_set():
            for agent in agents:
                agent.step()
            await asyncio.sleep(0.004)

    async def start_producing() -> asyncio.Task[None]:
        for agent in agents:
            await agent.start()
        return asyncio.create_task(produce())

    async def close(producer: asyncio.Task[None]) -> None:
        await producer
        for agent in agents:
            await agent.aclose()

    producer = d.run(start_producing())
    try:
        assert d.run(gateway.wait_connected(5))
        pump_until(rt, gw, lambda: all(a.link.connected.is_set() for a in agents), "connected")
        pump_until(rt, gw, lambda: len(stored(rt, site.x, since)) >= 200, "readings stored")

        own_broker.stop(signal.SIGKILL)
        pump_until(rt, gw, lambda: all(a.pending > 20 for a in agents), "readings pile up")
        own_broker.start()
        pump_until(rt, gw, lambda: gateway.link.connections == 2, "the gateway reconnected")
        pump_until(rt, gw, lambda: all(a.link.connections == 2 for a in agents), "reconnected")
        time.sleep(0.3)
    finally:
        stop.set()
    d.run(_finished(producer))  # its last round of readings included: none made after this
    made = {a.resource_id: {x.at for x in a.applied} for a in agents}
    assert all(len(ts) == a.next_seq for a, ts in zip(agents, made.values(), strict=True))

    def all_stored() -> bool:
        return all(len(stored(rt, r, since)) >= len(ts) for r, ts in made.items())

    try:
        pump_until(rt, gw, all_stored, "every reading is stored")
        for _ in range(10):  # late copies, if any, would be stored now
            pump(rt, gw, TickReport())
            time.sleep(0.02)
        for resource_id, sent in made.items():
            rows = stored(rt, resource_id, since)
            assert len(rows) == len(set(rows)) == len(sent), resource_id  # none lost, none twice
            assert set(rows) == sent, resource_id
        assert gateway.stats.malformed == gateway.stats.telemetry_missing == 0
        before = scraped(rt)

        # A NaN the codec refuses, and a well-formed reading 20 times the battery's power.
        last = agents[0]
        implausible = TelemetrySample(
            site.x, rt.clock.now(), 30.0, last.next_seq, 0.5, DeviceMode.FOLLOWING
        )
        payload = encode_telemetry(implausible)
        nan = payload.replace(b'"p_mw":30.0', b'"p_mw":NaN')
        assert nan != payload

        async def publish() -> None:
            async with options.client(f"test-{new_org()}", clean=True) as client:
                topic = Topics(options.topic_prefix, site.org).telemetry(site.x)
                await client.publish(topic, nan, qos=1)
                await client.publish(topic, payload, qos=1)

        d.run(publish())
        after = {}

        def counted() -> bool:
            after.update(scraped(rt))
            return after.get(OUT_OF_RANGE, 0) > before.get(OUT_OF_RANGE, 0)

        pump_until(rt, gw, counted, "the implausible reading is counted")
    finally:
        d.run(close(producer))
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    assert delta == {
        OUT_OF_RANGE: 1,
        ("openvpp_mqtt_received_total", (("kind", "telemetry"),)): 1,
        ("openvpp_mqtt_dropped_total", (("reason", "malformed"),)): 1,
    }
    assert len(stored(rt, site.x, since)) == len(made[site.x])
    totals = rt.telemetry.totals()
    assert totals.accepted - base.accepted == sum(map(len, made.values()))
    assert totals.duplicates == base.duplicates
    assert totals.rejected - base.rejected == {"out_of_range": 1}
