"""The device side of the MQTT gateway: an agent that connects one device (real or simulated)
to the broker and runs its :class:`~openvpp.dispatch.device.DeviceController`.

It subscribes (QoS 1, persistent session) to its setpoints and (QoS 0) to the controller
heartbeat, judges every setpoint with the controller and publishes the acknowledgement (QoS 1);
a repeated delivery of the same instruction gets the first acknowledgement again. Every
``cycle_s`` it steps the controller — also while the broker is unreachable, so the fail-safe
works offline: without a controller heartbeat for ``link_timeout_s`` the device is at its
fallback within one more cycle — applies the power, and queues a telemetry sample (QoS 1,
``seq`` increasing) and a heartbeat (QoS 0). Acknowledgements and telemetry wait in an outbox
while the broker is away and go out in order after the reconnect. The last ``resend_buffer``
samples are kept, and sent again, unchanged, when the controller asks for them on the
device's ``resend`` topic (readings the broker acknowledged and then lost in a crash).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import aiomqtt

from openvpp.core.clock import Clock, SystemClock
from openvpp.dispatch.device import DeviceController
from openvpp.dispatch.mqtt import BrokerLink, MqttOptions, cancel_all, device_client_id
from openvpp.dispatch.mqtt_codec import (
    CONTROLLER,
    PayloadError,
    ResendRequest,
    Topics,
    check_id,
    decode_controller_heartbeat,
    decode_resend,
    decode_setpoint,
    encode_ack,
    encode_heartbeat,
    encode_telemetry,
)
from openvpp.dispatch.protocol import Ack, DeviceMode, Heartbeat, TelemetrySample

__all__ = ["AgentStats", "Applied", "Meter", "MqttDeviceAgent", "StorageMeter", "main"]

log = logging.getLogger(__name__)

Meter = Callable[[float, DeviceMode], tuple[float, float | None]]
"""``(applied p [MW], mode) -> (measured p [MW], state of charge [fraction] or None)``."""


@dataclass(frozen=True, slots=True)
class Applied:
    """One control cycle: the power applied [MW] and the mode, at ``at`` [UTC]."""

    at: datetime
    p_mw: float
    mode: DeviceMode
    instruction_id: str | None


@dataclass(slots=True)
class AgentStats:
    setpoints: int = 0  # setpoint messages received (repeats included)
    controller_heartbeats: int = 0
    repeats: int = 0  # repeated deliveries of an instruction already judged
    malformed: int = 0  # payloads or topics that failed validation, dropped
    dropped: int = 0  # outbox overflow (oldest telemetry first)
    resent: int = 0  # telemetry samples sent again on the controller's request
    published: int = 0  # acks and telemetry the broker acknowledged
    errors: int = 0  # control cycles whose meter or apply callback raised (logged)


class MqttDeviceAgent:
    """One device on MQTT. ``meter`` reads the device (default: it delivers exactly what was
    applied); ``apply`` is called with every applied power [MW] and mode (default: nothing).
    ``cycle_s`` None: no control loop, the owner calls :meth:`step` (and no heartbeats go
    out). Use ``async with`` or :meth:`start` / :meth:`aclose`."""

    def __init__(
        self,
        options: MqttOptions,
        organization_id: str,
        controller: DeviceController,
        *,
        clock: Clock | None = None,
        cycle_s: float | None = 1.0,
        meter: Meter | None = None,
        apply: Callable[[float, DeviceMode], None] | None = None,
        client_id: str | None = None,
        first_seq: int = 0,
        max_pending: int = 100_000,
        history: int = 10_000,
        resend_buffer: int = 10_000,
    ) -> None:
        if cycle_s is not None and cycle_s <= 0:
            raise ValueError(f"cycle_s must be positive, got {cycle_s}")
        self.resource_id = check_id(controller.resource_id, "resource_id")
        self.topics = Topics(options.topic_prefix, organization_id)
        self.controller = controller
        self.clock: Clock = clock or SystemClock()
        self.cycle_s = cycle_s
        self.meter = meter
        self.apply = apply
        self.stats = AgentStats()
        self.applied: deque[Applied] = deque(maxlen=history)
        self.next_seq = first_seq
        self.last_heard: datetime | None = None
        """When the last message from the controller (heartbeat or setpoint) arrived [UTC, this
        device's clock]: the link counts as lost ``link_timeout_s`` later."""
        self._wake = asyncio.Event()
        self.link = BrokerLink(
            options,
            client_id or device_client_id(self.topics, self.resource_id),
            [
                (self.topics.setpoint(self.resource_id), 1),
                (self.topics.resend(self.resource_id), 1),
                (self.topics.controller_heartbeat, 0),
            ],
            self._on_message,
            self._wake_flusher,
        )
        self._max_pending = max_pending
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._sent: deque[tuple[int, bytes]] = deque(maxlen=resend_buffer)
        """The last samples by seq (consecutive), for the controller's resend requests."""
        self._acks: OrderedDict[str, Ack] = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> MqttDeviceAgent:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self.link.run()),
                asyncio.create_task(self._flusher()),
            ]
            if self.cycle_s is not None:
                self._tasks.append(asyncio.create_task(self._control(self.cycle_s)))

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.link.connected.wait(), timeout)
        return self.link.connected.is_set()

    @property
    def pending(self) -> int:
        """Acknowledgements and telemetry waiting for the broker."""
        return len(self._outbox)

    async def aclose(self) -> None:
        """Stop; the broker keeps the session (setpoints sent meanwhile wait there)."""
        tasks, self._tasks = self._tasks, []
        await cancel_all(tasks)

    def step(self) -> Applied:
        """One control cycle now: step the controller, apply, queue telemetry."""
        now = self.clock.now()
        p_mw, mode = self.controller.step(now)
        applied = Applied(now, p_mw, mode, self.controller.instruction_id(now))
        self.applied.append(applied)
        if self.apply is not None:
            self.apply(p_mw, mode)
        measured, soc = (p_mw, None) if self.meter is None else self.meter(p_mw, mode)
        sample = TelemetrySample(self.resource_id, now, measured, self.next_seq, soc, mode)
        self.next_seq += 1
        payload = encode_telemetry(sample)
        if self._sent.maxlen:
            self._sent.append((sample.seq, payload))
        self._queue(self.topics.telemetry(self.resource_id), payload)
        return applied

    # -- internals ----------------------------------------------------------------------

    def _wake_flusher(self) -> None:
        self._wake.set()

    def _queue(self, topic: str, payload: bytes) -> None:
        self._outbox.append((topic, payload))
        while len(self._outbox) > self._max_pending:
            self._outbox.popleft()
            self.stats.dropped += 1
        self._wake.set()

    async def _control(self, cycle_s: float) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        heartbeat_topic = self.topics.heartbeat(self.resource_id)
        while True:
            try:
                applied = self.step()
            except Exception:  # a failing meter or actuator must not stop the control loop
                self.stats.errors += 1
                log.exception("mqtt device %s: control cycle failed", self.resource_id)
            else:
                if self.link.connected.is_set():
                    hb = Heartbeat(
                        self.resource_id, applied.at, applied.mode, applied.instruction_id
                    )
                    await self.link.publish(heartbeat_topic, encode_heartbeat(hb), 0)
            next_at = max(next_at + cycle_s, loop.time())
            await asyncio.sleep(next_at - loop.time())

    async def _flusher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox and self.link.connected.is_set():
                batch = [self._outbox.popleft() for _ in range(min(100, len(self._outbox)))]
                done = await asyncio.gather(
                    *(self.link.publish(topic, payload, 1) for topic, payload in batch)
                )
                failed = [item for item, ok in zip(batch, done, strict=True) if not ok]
                self.stats.published += len(batch) - len(failed)
                self._outbox.extendleft(reversed(failed))
                if failed:
                    break  # the link is down; the reconnect wakes us again

    def _on_message(self, message: aiomqtt.Message) -> None:
        try:
            resource_id, kind = self.topics.parse(message.topic.value)
            raw = message.payload
            if not isinstance(raw, bytes | bytearray | str):
                raise PayloadError("payload", "is not text")
            now = self.clock.now()
            if kind == "heartbeat" and resource_id == CONTROLLER:
                decode_controller_heartbeat(raw)
                self.controller.heartbeat(now)
                self.last_heard = now
                self.stats.controller_heartbeats += 1
            elif kind == "setpoint" and resource_id == self.resource_id:
                self._on_setpoint(raw, now)
            elif kind == "resend" and resource_id == self.resource_id:
                self._resend(decode_resend(raw))
            else:
                raise PayloadError("topic", f"{message.topic.value!r} is not for this device")
        except PayloadError as exc:
            self.stats.malformed += 1
            log.warning("mqtt device: dropped a malformed message on %s (%s)", message.topic, exc)

    def _resend(self, request: ResendRequest) -> None:
        """Queue the kept samples of the requested seqs again (those no longer kept, or not
        taken yet, are skipped)."""
        kept = self._sent
        if not kept:
            return
        oldest = kept[0][0]
        first = max(request.first_seq, oldest)
        last = min(request.last_seq, oldest + len(kept) - 1)
        topic = self.topics.telemetry(self.resource_id)
        for seq in range(first, last + 1):
            kept_seq, payload = kept[seq - oldest]  # consecutive seqs: the position is known
            if kept_seq == seq:
                self._queue(topic, payload)
                self.stats.resent += 1

    def _on_setpoint(self, raw: bytes | bytearray | str, now: datetime) -> None:
        sp = decode_setpoint(
            raw, organization_id=self.topics.organization_id, resource_id=self.resource_id
        )
        self.stats.setpoints += 1
        self.last_heard = now
        ack = self._acks.get(sp.instruction_id)
        if ack is None:
            ack = self.controller.receive(sp, now)
            self._acks[sp.instruction_id] = ack
            if len(self._acks) > 1024:
                self._acks.popitem(last=False)
        else:
            self.stats.repeats += 1
            self.controller.heartbeat(now)
        self._queue(self.topics.ack(self.resource_id), encode_ack(ack))


class StorageMeter:
    """A simulated storage device: delivers what was applied and integrates it into the state
    of charge [fraction] over the time between readings (``capacity_mwh`` [MWh], lossless;
    discharge, i.e. positive power, lowers it; clipped to [0, 1])."""

    def __init__(self, capacity_mwh: float, soc: float = 0.5) -> None:
        if capacity_mwh <= 0:
            raise ValueError(f"capacity_mwh must be positive, got {capacity_mwh}")
        self.capacity_mwh = capacity_mwh
        self.soc = soc
        self._last: float | None = None

    def __call__(self, p_mw: float, mode: DeviceMode) -> tuple[float, float | None]:
        now = time.monotonic()
        if self._last is not None:
            dt_h = (now - self._last) / 3600.0
            self.soc = min(1.0, max(0.0, self.soc - p_mw * dt_h / self.capacity_mwh))
        self._last = now
        return p_mw, self.soc


def main(argv: Sequence[str] | None = None) -> None:
    """Run one simulated device until SIGINT/SIGTERM: ``python -m openvpp.dispatch.mqtt_device
    --org ORG --resource ID [--p-min -1 --p-max 1 --fallback 0 --capacity-mwh 2 ...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m openvpp.dispatch.mqtt_device", description=main.__doc__
    )
    parser.add_argument("--url", default=os.environ.get("OPENVPP_MQTT_URL", "mqtt://127.0.0.1"))
    parser.add_argument("--prefix", default=os.environ.get("OPENVPP_MQTT_TOPIC_PREFIX", "openvpp"))
    parser.add_argument("--org", required=True)
    parser.add_argument("--resource", required=True)
    parser.add_argument("--p-min", type=float, default=-1.0, help="[MW]")
    parser.add_argument("--p-max", type=float, default=1.0, help="[MW]")
    parser.add_argument("--ramp", type=float, default=float("inf"), help="[MW/s]")
    parser.add_argument("--fallback", type=float, default=0.0, help="safe setpoint [MW]")
    parser.add_argument("--link-timeout", type=float, default=5.0, help="[s]")
    parser.add_argument("--cycle", type=float, default=1.0, help="control cycle [s]")
    parser.add_argument("--capacity-mwh", type=float, default=None, help="storage: report SoC")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    options = MqttOptions.from_url(args.url, topic_prefix=args.prefix)
    controller = DeviceController(
        args.resource,
        p_min_mw=args.p_min,
        p_max_mw=args.p_max,
        ramp_mw_per_s=args.ramp,
        fallback_mw=args.fallback,
        link_timeout_s=args.link_timeout,
    )
    meter = None if args.capacity_mwh is None else StorageMeter(args.capacity_mwh)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        agent = MqttDeviceAgent(options, args.org, controller, cycle_s=args.cycle, meter=meter)
        async with agent:
            log.info("device %s/%s on %s:%s", args.org, args.resource, options.host, options.port)
            await stop.wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
