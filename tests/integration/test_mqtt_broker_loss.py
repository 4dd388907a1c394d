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
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from openvpp.dispatch.mqtt import MqttGateway, MqttOptions
from openvpp.dispatch.mqtt_device import MqttDeviceAgent
from openvpp.dispatch.protocol import DeviceMode
from tests.integration.test_mqtt_gateway import (
    CYCLE_S,
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


def test_broker_restart_under_load_loses_and_duplicates_no_telemetry(
    own_broker: Broker,
) -> None:
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

            own_broker.stop(signal.SIGTERM)
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
        assert gateway.stats.telemetry_missing == 0
        assert sum(d.stats.dropped for d in devices) == 0
        received = gateway.stats.received["telemetry"]
        assert received == len(events.events.telemetry) + gateway.stats.duplicate_telemetry

    run(body, timeout=60)
