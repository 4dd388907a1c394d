"""The MQTT gateway and device agent against the real Mosquitto broker on 127.0.0.1:1883
(``OPENVPP_TEST_MQTT_URL`` to change it). Skipped when it does not answer, a failure with
``OPENVPP_REQUIRE_SERVICES=1``. Every test uses its own organization (so its own topics and
client ids) and makes the broker forget its persistent sessions afterwards."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from openvpp.dispatch.device import DeviceController
from openvpp.dispatch.mqtt import (
    MqttGateway,
    MqttOptions,
    controller_client_id,
    device_client_id,
    discard_session,
)
from openvpp.dispatch.mqtt_codec import Topics, decode_telemetry, encode_ack, encode_telemetry
from openvpp.dispatch.mqtt_device import MqttDeviceAgent
from openvpp.dispatch.protocol import (
    Ack,
    AckStatus,
    DeviceGateway,
    DeviceMode,
    GatewayEvents,
    Setpoint,
    TelemetrySample,
)
from tests.conftest import REQUIRE_SERVICES, reachable

pytestmark = pytest.mark.services

MQTT_URL = os.environ.get("OPENVPP_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
HEARTBEAT_S = 0.1
LINK_TIMEOUT_S = 0.5
CYCLE_S = 0.05
FALLBACK_MW = 0.5


def fast(options: MqttOptions) -> MqttOptions:
    """Short heartbeat, timeouts and backoff: the tests take seconds, not minutes."""
    return MqttOptions(
        host=options.host,
        port=options.port,
        username=options.username,
        password=options.password,
        tls=options.tls,
        heartbeat_s=HEARTBEAT_S,
        timeout_s=3.0,
        backoff_min_s=0.02,
        backoff_max_s=0.3,
        resend_after_s=0.2,
        resend_attempts=2,
    )


def require_broker(url: str = MQTT_URL) -> MqttOptions:
    if not reachable(url):
        message = f"the MQTT broker is not reachable at {url}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message} and OPENVPP_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(f"{message}; start mosquitto to run these tests")
    return fast(MqttOptions.from_url(url))


def run(body: Callable[[], Coroutine[Any, Any, None]], timeout: float = 30.0) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(body(), timeout)

    asyncio.run(bounded())


async def until(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it holds; a liveness bound, not a performance figure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)


class Collector:
    """Drains a gateway continuously into lists."""

    def __init__(self, gateway: MqttGateway) -> None:
        self.gateway = gateway
        self.events = GatewayEvents()

    async def collect(self) -> GatewayEvents:
        got = await self.gateway.drain()
        self.events.acks.extend(got.acks)
        self.events.telemetry.extend(got.telemetry)
        self.events.heartbeats.extend(got.heartbeats)
        return self.events

    async def until(self, predicate: Callable[[GatewayEvents], bool], what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while not predicate(await self.collect()):
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting until {what}: {self.gateway.stats}")
            await self.gateway.wait_for_events(0.05)


def new_org() -> str:
    return f"test-{secrets.token_hex(4)}"


def controller(resource_id: str = "bat-1") -> DeviceController:
    return DeviceController(
        resource_id,
        p_min_mw=-5.0,
        p_max_mw=5.0,
        fallback_mw=FALLBACK_MW,
        link_timeout_s=LINK_TIMEOUT_S,
    )


def setpoint(
    org: str, seq: int, p_mw: float, valid_s: float, resource_id: str = "bat-1"
) -> Setpoint:
    now = datetime.now(UTC)
    return Setpoint(
        instruction_id=f"ins-{seq}-{secrets.token_hex(3)}",
        organization_id=org,
        resource_id=resource_id,
        seq=seq,
        p_mw=p_mw,
        valid_from=now - timedelta(seconds=1),
        valid_until=now + timedelta(seconds=valid_s),
        fallback_mw=FALLBACK_MW,
        issued_at=now,
    )


@pytest.fixture
def broker() -> Iterator[tuple[MqttOptions, str]]:
    options = require_broker()
    org = new_org()
    yield options, org

    async def forget() -> None:
        topics = Topics(options.topic_prefix, org)
        for client_id in (
            controller_client_id(topics),
            device_client_id(topics, "bat-1"),
            device_client_id(topics, "bat-2"),
        ):
            await discard_session(options, client_id)

    run(forget)


def test_gateway_implements_the_contract(broker: tuple[MqttOptions, str]) -> None:
    options, org = broker

    async def body() -> None:
        gateway = MqttGateway(options, org)
        assert isinstance(gateway, DeviceGateway)
        with pytest.raises(ValueError, match="organization_id"):
            await gateway.send([setpoint("other-org", 1, 1.0, 10)])
        with pytest.raises(ValueError, match="resource_id"):
            await gateway.send([setpoint(org, 1, 1.0, 10, resource_id="bat/#")])
        assert gateway.pending == 0

    run(body)


def test_setpoint_round_trip_ack_applied_and_telemetry(broker: tuple[MqttOptions, str]) -> None:
    options, org = broker

    async def body() -> None:
        device = MqttDeviceAgent(options, org, controller(), cycle_s=CYCLE_S)
        async with MqttGateway(options, org) as gateway, device:
            assert await gateway.wait_connected(5)
            assert await device.wait_connected(5)
            await until(lambda: device.last_heard is not None, "a heartbeat")
            sp = setpoint(org, 1, 3.0, 30)
            await gateway.send([sp])
            assert gateway.pending == 0
            events = Collector(gateway)
            await events.until(lambda e: bool(e.acks), "the ack arrived")
            assert events.events.acks == [
                Ack(sp.instruction_id, "bat-1", AckStatus.ACCEPTED, events.events.acks[0].at)
            ]
            await events.until(
                lambda e: any(
                    t.mode is DeviceMode.FOLLOWING and t.p_mw == 3.0 for t in e.telemetry
                ),
                "telemetry shows the setpoint applied",
            )
            await events.until(lambda e: bool(e.heartbeats), "a device heartbeat arrived")
            assert events.events.heartbeats[-1].resource_id == "bat-1"
            assert device.applied[-1].instruction_id == sp.instruction_id
            seqs = [t.seq for t in events.events.telemetry]
            assert seqs == sorted(set(seqs))
            assert gateway.stats.malformed == 0

    run(body)


def test_setpoints_wait_for_an_offline_device_and_expired_ones_are_never_applied(
    broker: tuple[MqttOptions, str],
) -> None:
    options, org = broker

    async def body() -> None:
        device_logic = controller()
        async with MqttGateway(options, org) as gateway:
            assert await gateway.wait_connected(5)
            first = MqttDeviceAgent(options, org, device_logic, cycle_s=CYCLE_S)
            async with first:  # creates the device's persistent session and subscription
                assert await first.wait_connected(5)
            lasting = setpoint(org, 1, 3.0, 30)
            short = setpoint(org, 2, -4.0, 0.8)
            await gateway.send([lasting, short])  # the broker holds them for the device
            assert gateway.pending == 0
            assert gateway.stats.published == 2
            await asyncio.sleep(1.0)  # the short one expires while the device is away
            events = Collector(gateway)
            second = MqttDeviceAgent(options, org, device_logic, cycle_s=CYCLE_S)
            async with second:
                await events.until(lambda e: len(e.acks) == 2, "both acks arrived")
                status = {a.instruction_id: a.status for a in events.events.acks}
                assert status == {
                    lasting.instruction_id: AckStatus.ACCEPTED,
                    short.instruction_id: AckStatus.EXPIRED,
                }
                await until(
                    lambda: second.applied and second.applied[-1].mode is DeviceMode.FOLLOWING,
                    "the device follows the lasting setpoint",
                )
            applied = list(first.applied) + list(second.applied)
            assert all(a.instruction_id != short.instruction_id for a in applied)
            assert all(a.p_mw != -4.0 for a in applied)

    run(body)


def test_device_falls_back_when_controller_heartbeats_stop(
    broker: tuple[MqttOptions, str],
) -> None:
    options, org = broker

    async def body() -> None:
        device = MqttDeviceAgent(options, org, controller(), cycle_s=CYCLE_S)
        async with device:
            gateway = MqttGateway(options, org)
            async with gateway:
                assert await gateway.wait_connected(5)
                assert await device.wait_connected(5)
                await gateway.send([setpoint(org, 1, 3.0, 60)])
                await until(lambda: device.applied[-1].mode is DeviceMode.FOLLOWING, "following")
            # the controller is gone (the broker is fine): no more heartbeats
            await until(lambda: device.applied[-1].mode is DeviceMode.FALLBACK, "fallback")
            assert_fail_safe(device)

    run(body)


def assert_fail_safe(device: MqttDeviceAgent) -> None:
    """The device followed its setpoint until ``LINK_TIMEOUT_S`` after the last message from the
    controller, and every control cycle from then on applied the fallback: it reached its safe
    setpoint in the first cycle after the timeout (cycles run every ``CYCLE_S``)."""
    last = device.last_heard
    assert last is not None
    late = [a for a in device.applied if (a.at - last).total_seconds() >= LINK_TIMEOUT_S]
    assert late
    assert all(a.mode is DeviceMode.FALLBACK and a.p_mw == FALLBACK_MW for a in late)
    within = [a for a in device.applied if 0 < (a.at - last).total_seconds() < LINK_TIMEOUT_S]
    assert within
    assert all(a.mode is DeviceMode.FOLLOWING for a in within)


def test_malformed_and_duplicate_messages_are_counted_and_dropped(
    broker: tuple[MqttOptions, str],
) -> None:
    options, org = broker
    topics = Topics(options.topic_prefix, org)

    async def body() -> None:
        device = MqttDeviceAgent(options, org, controller(), cycle_s=None)
        async with MqttGateway(options, org) as gateway, device:
            assert await gateway.wait_connected(5)
            assert await device.wait_connected(5)
            now = datetime.now(UTC)
            sample = encode_telemetry(TelemetrySample("bat-2", now, 1.0, 5))
            ack = encode_ack(Ack("ins-9", "bat-2", AckStatus.ACCEPTED, now))
            async with options.client(f"intruder-{org}", clean=True) as raw:
                bad: list[tuple[str, bytes]] = [
                    (topics.telemetry("bat-2"), b"not json"),
                    (topics.telemetry("bat-2"), b'{"v": 1, "p_mw": NaN}'),
                    (topics.telemetry("bat-1"), sample),  # payload of another resource
                    (topics.ack("bat-2"), b"{}"),
                    (topics.setpoint("bat-1"), b'{"v": 1}'),  # to the device
                ]
                for topic, payload in bad:
                    await raw.publish(topic, payload, qos=1)
                for _ in range(3):  # at-least-once: the same message more than once
                    await raw.publish(topics.telemetry("bat-2"), sample, qos=1)
                    await raw.publish(topics.ack("bat-2"), ack, qos=1)
            events = Collector(gateway)
            await events.until(
                lambda e: (
                    gateway.stats.received["telemetry"] == 3
                    and gateway.stats.received["ack"] == 3
                    and gateway.stats.malformed == 4
                ),
                "everything arrived",
            )
            assert [(t.resource_id, t.seq) for t in events.events.telemetry] == [("bat-2", 5)]
            assert [a.instruction_id for a in events.events.acks] == ["ins-9"]
            assert gateway.stats.duplicate_telemetry == 2
            assert gateway.stats.duplicate_acks == 2
            await until(lambda: device.stats.malformed == 1, "the device dropped its one")
            # both sides still work
            sp = setpoint(org, 1, 2.0, 30)
            await gateway.send([sp])
            await events.until(lambda e: len(e.acks) == 2, "the real ack arrived")
            assert events.events.acks[-1].status is AckStatus.ACCEPTED

    run(body)


def test_a_repeated_setpoint_gets_its_first_ack_again(broker: tuple[MqttOptions, str]) -> None:
    options, org = broker

    async def body() -> None:
        device = MqttDeviceAgent(options, org, controller(), cycle_s=None)
        async with MqttGateway(options, org) as gateway, device:
            assert await gateway.wait_connected(5)
            assert await device.wait_connected(5)
            sp = setpoint(org, 1, 2.0, 30)
            await gateway.send([sp])
            await gateway.send([sp])  # a resend: QoS 1 and retries deliver copies
            events = Collector(gateway)
            await until(lambda: device.stats.setpoints == 2, "both copies reached the device")
            await events.until(lambda e: gateway.stats.received["ack"] == 2, "two acks")
            assert [a.status for a in events.events.acks] == [AckStatus.ACCEPTED]
            assert device.stats.repeats == 1
            assert gateway.stats.duplicate_acks == 1

    run(body)


def test_a_broker_refusing_the_connection_is_retried() -> None:
    org = new_org()
    closed = MqttOptions(port=free_port(), backoff_min_s=0.01, backoff_max_s=0.05)

    async def body() -> None:
        async with MqttGateway(closed, org) as gateway:
            await gateway.send([setpoint(org, 1, 1.0, 30)])
            await until(lambda: gateway.link.failures >= 3, "three attempts failed")
            assert not gateway.link.connected.is_set()
            assert gateway.pending == 1

    run(body)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Brittle(DeviceController):
    """A device whose logic raises on its first setpoint (a bug in the device code)."""

    def receive(self, setpoint: Setpoint, now: datetime) -> Ack:
        if setpoint.seq == 1:
            raise RuntimeError("device bug")
        return super().receive(setpoint, now)


def test_a_handler_that_raises_does_not_end_the_connection(
    broker: tuple[MqttOptions, str],
) -> None:
    options, org = broker

    async def body() -> None:
        logic = Brittle("bat-1", p_min_mw=-5.0, p_max_mw=5.0, link_timeout_s=LINK_TIMEOUT_S)
        device = MqttDeviceAgent(options, org, logic, cycle_s=None)
        async with MqttGateway(options, org) as gateway, device:
            assert await gateway.wait_connected(5)
            assert await device.wait_connected(5)
            await gateway.send([setpoint(org, 1, 2.0, 30)])
            await until(lambda: device.link.errors == 1, "the error was caught")
            second = setpoint(org, 2, 2.0, 30)
            await gateway.send([second])
            events = Collector(gateway)
            await events.until(lambda e: bool(e.acks), "the second setpoint's ack")
            assert [a.instruction_id for a in events.events.acks] == [second.instruction_id]
            assert device.link.connections == 1

    run(body)


def test_a_simulated_device_in_its_own_process(broker: tuple[MqttOptions, str]) -> None:
    options, org = broker
    command = [
        sys.executable,
        "-m",
        "openvpp.dispatch.mqtt_device",
        f"--url=mqtt://{options.host}:{options.port}",
        f"--org={org}",
        "--resource=bat-1",
        "--p-min=-2",
        "--p-max=2",
        f"--fallback={FALLBACK_MW}",
        f"--link-timeout={LINK_TIMEOUT_S}",
        f"--cycle={CYCLE_S}",
        "--capacity-mwh=0.01",
    ]
    device = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    async def body() -> None:
        async with MqttGateway(options, org) as gateway:
            assert await gateway.wait_connected(5)
            events = Collector(gateway)
            await events.until(lambda e: bool(e.heartbeats), "the device is up")
            sp = setpoint(org, 1, 1.5, 30)  # discharging 1.5 MW
            too_much = setpoint(org, 2, 3.0, 30)
            await gateway.send([sp, too_much])
            await events.until(lambda e: len(e.acks) == 2, "both acks")
            assert [(a.instruction_id, a.status) for a in events.events.acks] == [
                (sp.instruction_id, AckStatus.ACCEPTED),
                (too_much.instruction_id, AckStatus.REJECTED),
            ]
            assert "outside" in events.events.acks[1].reason
            await events.until(
                lambda e: sum(t.mode is DeviceMode.FOLLOWING for t in e.telemetry) >= 3,
                "following",
            )
        following = [t for t in events.events.telemetry if t.mode is DeviceMode.FOLLOWING]
        assert all(t.p_mw == 1.5 for t in following)
        socs = [t.soc for t in following]
        assert all(s is not None for s in socs)
        assert socs == sorted(socs, reverse=True)  # discharging: the state of charge falls
        assert socs[-1] < socs[0]

    try:
        run(body)
    finally:
        device.terminate()
        _, stderr = device.communicate(timeout=10)
    assert device.returncode == 0, stderr.decode()[-2000:]


def test_a_failing_meter_does_not_stop_the_fail_safe(broker: tuple[MqttOptions, str]) -> None:
    options, org = broker
    calls = 0

    def flaky_meter(p_mw: float, mode: DeviceMode) -> tuple[float, float | None]:
        nonlocal calls
        calls += 1
        if calls % 2:
            raise OSError("meter timeout")
        return p_mw, None

    async def body() -> None:
        device = MqttDeviceAgent(options, org, controller(), cycle_s=CYCLE_S, meter=flaky_meter)
        async with device:
            async with MqttGateway(options, org) as gateway:
                assert await gateway.wait_connected(5)
                assert await device.wait_connected(5)
                await gateway.send([setpoint(org, 1, 3.0, 60)])
                await until(lambda: device.applied[-1].mode is DeviceMode.FOLLOWING, "following")
            await until(lambda: device.applied[-1].mode is DeviceMode.FALLBACK, "fallback")
            assert_fail_safe(device)
            assert device.stats.errors >= 2

    run(body)


def lose(device: MqttDeviceAgent, seqs: set[int]) -> None:
    """Take the telemetry of ``seqs`` out of the device's outbox before it is published: what
    a broker that acknowledged and then crashed would have lost."""
    kept = [
        (topic, payload)
        for topic, payload in device._outbox
        if not (topic.endswith("/telemetry") and decode_telemetry(payload).seq in seqs)
    ]
    device._outbox.clear()
    device._outbox.extend(kept)


def test_readings_lost_at_the_broker_are_asked_for_again_and_arrive_once(
    broker: tuple[MqttOptions, str],
) -> None:
    # The repair passes are driven by the test (the gateway's own come every 15 s).
    options, org = replace(fast(broker[0]), resend_after_s=60.0), broker[1]

    async def body() -> None:
        device = MqttDeviceAgent(options, org, controller(), cycle_s=None)
        gateway = MqttGateway(options, org)
        events = Collector(gateway)
        loop = asyncio.get_running_loop()
        async with gateway, device:
            assert await gateway.wait_connected(5)
            assert await device.wait_connected(5)
            for _ in range(6):  # queued in one go: nothing is published in between
                device.step()
            lose(device, {2, 3})
            await events.until(lambda e: len(e.telemetry) >= 4, "the rest arrived")
            assert gateway.open_gaps == 1
            assert gateway.stats.telemetry_missing == 2
            await gateway.repair(loop.time())  # not due yet
            assert gateway.stats.resend_requests == 0
            await gateway.repair(loop.time() + 60)
            assert gateway.stats.resend_requests == 1
            await events.until(lambda e: len(e.telemetry) >= 6, "the lost ones, sent again")
            device.step()
            await events.until(lambda e: len(e.telemetry) >= 7, "the next reading")
            await gateway.repair(loop.time() + 1000)  # filled: nothing more to ask
        assert sorted(t.seq for t in events.events.telemetry) == list(range(7))
        assert [t.seq for t in events.events.telemetry][4:6] == [2, 3]  # late, not copies
        assert gateway.stats.resend_requests == 1
        assert device.stats.resent == 2
        assert gateway.stats.telemetry_missing == gateway.stats.telemetry_unrecovered == 0
        assert gateway.open_gaps == 0

    run(body)


def test_readings_the_device_no_longer_keeps_are_asked_for_then_counted_unrecovered(
    broker: tuple[MqttOptions, str],
) -> None:
    options, org = replace(fast(broker[0]), resend_after_s=60.0), broker[1]

    async def body() -> None:
        device = MqttDeviceAgent(options, org, controller(), cycle_s=None, resend_buffer=2)
        gateway = MqttGateway(options, org, dedup_window=8)
        events = Collector(gateway)
        loop = asyncio.get_running_loop()
        async with gateway, device:
            assert await gateway.wait_connected(5)
            assert await device.wait_connected(5)
            for _ in range(6):
                device.step()
            lose(device, {1, 2})  # the device keeps only 4 and 5
            await events.until(lambda e: len(e.telemetry) >= 4, "the rest arrived")
            later = loop.time()
            for _ in range(options.resend_attempts + 2):  # each request, then given up
                later += 10_000
                await gateway.repair(later)
            assert gateway.stats.resend_requests == options.resend_attempts
            assert gateway.open_gaps == 0
            assert gateway.stats.telemetry_missing == 2  # still inside the window
            assert gateway.stats.telemetry_unrecovered == 0
            for _ in range(8):  # push them out of the 8-seq window
                device.step()
            await events.until(lambda e: len(e.telemetry) >= 12, "the window moved on")
        assert sorted(t.seq for t in events.events.telemetry) == [0, *range(3, 14)]
        assert gateway.stats.telemetry_missing == 0
        assert gateway.stats.telemetry_unrecovered == 2
        assert device.stats.resent == 0

    run(body)
