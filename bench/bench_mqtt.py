"""The MQTT device gateway on loopback: setpoint round-trip latency and telemetry throughput.

What it measures
----------------
One :class:`MqttGateway` (the controller) and ``--devices`` :class:`MqttDeviceAgent` s (each its
own broker connection, persistent session, a ``DeviceController``), all in this process,
against the broker at ``--url`` (default: the local Mosquitto on 127.0.0.1:1883), or a private
Mosquitto started on a free port with ``--spawn-broker`` (``set_tcp_nodelay true``).

* **round trip**: ``--rounds`` times, one setpoint per device in one ``send`` call; the latency
  of a setpoint runs from just before ``send`` to the moment its device's acknowledgement is
  handed out by ``drain`` (JSON encode, QoS 1 publish and PUBACK, broker routing, decode and
  judging on the device, the ack's QoS 1 publish, decode and de-dup at the controller).
  p50 / p99 / max over every setpoint; one warm-up round is not counted.
* **telemetry**: every device steps its controller and queues a sample as fast as the loop
  allows for ``--seconds``, with at most ``--window`` samples (500) not yet received by the
  controller: the broker queues at most ``max_queued_messages`` (1000 by default) for one
  client and silently drops the rest, so an open loop would measure loss, not throughput. The
  figure is distinct samples received per second of wall time, all of them must arrive.

One JSON line per measurement on stdout, progress on stderr. Devices and controller share one
event loop and one core (Python does the JSON and MQTT framing); the broker runs beside it.
The CPU time of this process per setpoint / sample is printed too: on a busy machine it is a
steadier figure than wall time.

Usage::

    .venv/bin/python bench/bench_mqtt.py [--devices 100] [--rounds 20] [--seconds 3]
        [--window 500] [--url mqtt://127.0.0.1:1883 | --spawn-broker]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from openvpp.dispatch.device import DeviceController
from openvpp.dispatch.mqtt import MqttGateway, MqttOptions, discard_session
from openvpp.dispatch.mqtt_device import MqttDeviceAgent
from openvpp.dispatch.protocol import Setpoint


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextlib.contextmanager
def private_broker() -> Iterator[int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "mosquitto.conf"
        config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
            "max_queued_messages 0\n"
        )
        process = subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                time.sleep(0.02)
            yield port
        finally:
            process.terminate()
            process.wait(10)


async def round_trips(
    gateway: MqttGateway, org: str, resources: list[str], rounds: int
) -> list[float]:
    latencies: list[float] = []
    for seq in range(1, rounds + 2):
        now = datetime.now(UTC)
        batch = [
            Setpoint(f"i{seq}-{rid}", org, rid, seq, 1.0, now, now + timedelta(minutes=5), 0.0, now)
            for rid in resources
        ]
        t0 = time.perf_counter()
        await gateway.send(batch)
        waiting = {sp.instruction_id for sp in batch}
        got: list[float] = []
        while waiting:
            if not await gateway.wait_for_events(10):
                raise RuntimeError(f"{len(waiting)} acks missing after 10 s")
            events = await gateway.drain()
            t = time.perf_counter()
            for ack in events.acks:
                if ack.instruction_id in waiting:
                    waiting.discard(ack.instruction_id)
                    got.append(t - t0)
        if seq > 1:  # round 1 warms up
            latencies.extend(got)
    return latencies


async def telemetry(
    gateway: MqttGateway, devices: list[MqttDeviceAgent], seconds: float, window: int
) -> dict[str, float]:
    """Devices step as fast as they can while at most ``window`` samples are on their way (so
    the broker's per-client queue, 1000 messages by default, never overflows and drops)."""
    await gateway.drain()
    first = {d.resource_id: d.next_seq for d in devices}
    produced = received = 0

    async def receive(timeout: float) -> None:
        nonlocal received
        if not await gateway.wait_for_events(timeout):
            raise RuntimeError(f"{produced - received} samples missing after {timeout} s")
        events = await gateway.drain()
        received += sum(1 for s in events.telemetry if s.seq >= first[s.resource_id])

    cpu0 = time.process_time()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for device in devices:
            device.step()
        produced += len(devices)
        await asyncio.sleep(0)
        while produced - received > window:
            await receive(30)
    while received < produced:
        await receive(30)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {
        "samples": produced,
        "wall_s": wall,
        "per_s": produced / wall,
        "cpu_us_per_sample": cpu / produced * 1e6,
    }


async def bench(
    options: MqttOptions, n: int, rounds: int, seconds: float, window: int = 500
) -> None:
    org = f"bench-{secrets.token_hex(4)}"
    resources = [f"dev-{i:05d}" for i in range(n)]
    devices = [
        MqttDeviceAgent(
            options,
            org,
            DeviceController(rid, p_min_mw=-5, p_max_mw=5, link_timeout_s=60),
            cycle_s=None,
        )
        for rid in resources
    ]
    gateway = MqttGateway(options, org)
    try:
        await gateway.start()
        for device in devices:
            await device.start()
        if not await gateway.wait_connected(10):
            raise RuntimeError(f"no broker at {options.host}:{options.port}")
        for device in devices:
            await device.wait_connected(10)
        log(f"{n} devices connected; {rounds} rounds of setpoints")
        cpu0 = time.process_time()
        lat = await round_trips(gateway, org, resources, rounds)
        cpu_ms = (time.process_time() - cpu0) * 1e3 / (len(lat) + n)
        print(
            json.dumps(
                {
                    "bench": "mqtt_setpoint_round_trip",
                    "broker": f"{options.host}:{options.port}",
                    "devices": n,
                    "setpoints": len(lat),
                    "p50_ms": round(statistics.median(lat) * 1e3, 2),
                    "p99_ms": round(percentile(lat, 0.99) * 1e3, 2),
                    "max_ms": round(max(lat) * 1e3, 2),
                    "cpu_ms_per_setpoint": round(cpu_ms, 3),
                }
            ),
            flush=True,
        )
        log(f"telemetry for {seconds} s")
        tel = await telemetry(gateway, devices, seconds, window)
        print(
            json.dumps(
                {
                    "bench": "mqtt_telemetry_throughput",
                    "broker": f"{options.host}:{options.port}",
                    "devices": n,
                    "samples": tel["samples"],
                    "wall_s": round(tel["wall_s"], 2),
                    "in_flight_max": window,
                    "samples_per_s": round(tel["per_s"]),
                    "cpu_us_per_sample": round(tel["cpu_us_per_sample"]),
                    "duplicates_dropped": gateway.stats.duplicate_telemetry,
                    "missing": gateway.stats.telemetry_missing,
                }
            ),
            flush=True,
        )
    finally:
        for device in devices:
            await device.aclose()
        await gateway.aclose()
        for client_id in [gateway.link.client_id, *(d.link.client_id for d in devices)]:
            with contextlib.suppress(Exception):
                await discard_session(options, client_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--window", type=int, default=500, help="samples in flight at most")
    parser.add_argument("--url", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--spawn-broker", action="store_true")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        url = args.url
        if args.spawn_broker:
            url = f"mqtt://127.0.0.1:{stack.enter_context(private_broker())}"
        options = MqttOptions.from_url(url, heartbeat_s=1.0)
        asyncio.run(bench(options, args.devices, args.rounds, args.seconds, args.window))


if __name__ == "__main__":
    main()
