"""The controller side of the MQTT device gateway (aiomqtt), one organization per gateway.

Setpoints go down at QoS 1 on ``<prefix>/<org>/<resource>/setpoint``; acknowledgements and
telemetry come up at QoS 1, device heartbeats at QoS 0; the controller heartbeat goes out at
QoS 0 on ``<prefix>/<org>/controller/heartbeat`` every ``heartbeat_s`` (devices fall back to
their safe setpoint when it stops). Sessions are persistent (``clean_session=False`` with a
stable client id), so messages for a client that is reconnecting wait at the broker. The
connection is kept up by :class:`BrokerLink`: it reconnects with exponential backoff and
jitter and subscribes again. QoS 1 is at-least-once: telemetry is de-duplicated by
(resource, seq) in a :class:`SeqWindow` (``at`` tells a copy from a restarted counter) and
acknowledgements by (instruction, status). See ``docs/mqtt.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import socket
import ssl
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlparse

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode

from openvpp.core.clock import Clock, SystemClock
from openvpp.dispatch.mqtt_codec import (
    CONTROLLER,
    MAX_RESEND,
    ControllerHeartbeat,
    PayloadError,
    ResendRequest,
    Topics,
    check_id,
    decode_ack,
    decode_heartbeat,
    decode_telemetry,
    encode_controller_heartbeat,
    encode_resend,
    encode_setpoint,
)
from openvpp.dispatch.protocol import GatewayEvents, Setpoint

__all__ = [
    "BrokerLink",
    "GatewayStats",
    "MqttGateway",
    "MqttOptions",
    "RecentKeys",
    "SeqWindow",
    "cancel_all",
    "controller_client_id",
    "device_client_id",
    "discard_session",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MqttOptions:
    """Where the broker is and how to talk to it (times in seconds)."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    topic_prefix: str = "openvpp"
    keepalive_s: int = 15
    heartbeat_s: float = 1.0
    """Interval of the controller heartbeat."""
    timeout_s: float = 5.0
    """Longest wait for one broker operation (connect, subscribe, PUBACK)."""
    backoff_min_s: float = 0.05
    backoff_max_s: float = 5.0
    resend_after_s: float = 2.0
    """How long a gap in a device's telemetry seqs may stay open before the controller asks
    the device to send it again; each further request waits twice as long."""
    resend_attempts: int = 5
    """Requests per gap; then the gateway stops asking (what is still missing counts as
    unrecovered once it leaves the de-duplication window)."""

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> MqttOptions:
        """Options from ``mqtt://[user:password@]host[:port]`` (``mqtts://`` for TLS)."""
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
            raise ValueError(f"mqtt_url: {url!r} is not mqtt://host[:port] or mqtts://...")
        tls = parsed.scheme == "mqtts"
        return replace(
            cls(
                host=parsed.hostname,
                port=parsed.port or (8883 if tls else 1883),
                username=unquote(parsed.username) if parsed.username else None,
                password=unquote(parsed.password) if parsed.password else None,
                tls=tls,
            ),
            **overrides,
        )

    def client(self, client_id: str, *, clean: bool = False) -> aiomqtt.Client:
        """An aiomqtt client for one connection attempt (persistent session unless clean)."""
        client = aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=client_id,
            clean_session=clean,
            keepalive=self.keepalive_s,
            timeout=self.timeout_s,
            tls_context=ssl.create_default_context() if self.tls else None,
            max_inflight_messages=200,
            # small messages, latency matters: no Nagle delay (40 ms with delayed ACKs)
            socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
        )
        client.pending_calls_threshold = 1_000  # batches of QoS 1 publishes are expected
        return client


def controller_client_id(topics: Topics) -> str:
    """The stable client id of an organization's controller: ``<prefix>/controller/<org>``
    (``/`` cannot occur in an id, so no two organizations or devices share a client id)."""
    return f"{topics.prefix}/controller/{topics.organization_id}"


def device_client_id(topics: Topics, resource_id: str) -> str:
    """The stable client id of a device: ``<prefix>/device/<org>/<resource>``."""
    return f"{topics.prefix}/device/{topics.organization_id}/{check_id(resource_id, 'resource_id')}"


async def discard_session(options: MqttOptions, client_id: str) -> None:
    """Make the broker forget the persistent session of ``client_id`` (its subscriptions and
    queued messages), e.g. when a device is decommissioned."""
    async with options.client(client_id, clean=True):
        pass


async def cancel_all(tasks: Sequence[asyncio.Task[Any]], *, recancel_s: float = 0.5) -> None:
    """Cancel ``tasks`` and wait until every one has ended; a task's own failure (other than
    its cancellation) is raised. A task still running ``recancel_s`` after its cancellation is
    cancelled again: on Python 3.11 ``asyncio.wait_for``, with which aiomqtt awaits a publish
    confirmation, loses a cancellation that arrives as the awaited future completes
    (bpo-42130), and the publishing loop would then run on and never end."""
    for task in tasks:
        task.cancel()
    pending = {task for task in tasks if not task.done()}
    while pending:
        _, pending = await asyncio.wait(pending, timeout=recancel_s)
        for task in pending:
            task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _refused(code: int | ReasonCode) -> bool:
    """A SUBACK return code of failure (0x80; MQTT 5 reason codes from 0x80 on)."""
    return code.is_failure if isinstance(code, ReasonCode) else code >= 0x80


class BrokerLink:
    """One broker connection kept up: connects with a persistent session, subscribes, hands
    every message to ``on_message``, and reconnects with exponential backoff (full jitter in
    [½, 1] of the delay) after any loss. ``on_connect`` runs after each (re)subscription."""

    def __init__(
        self,
        options: MqttOptions,
        client_id: str,
        subscriptions: Sequence[tuple[str, int]],
        on_message: Callable[[aiomqtt.Message], None],
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        self.options = options
        self.client_id = client_id
        self.subscriptions = list(subscriptions)
        self.on_message = on_message
        self.on_connect = on_connect
        self.connected = asyncio.Event()
        self.connections = 0
        self.failures = 0  # refused or lost connections
        self.errors = 0  # messages whose handler raised (a bug: logged with its traceback)
        self.refused: set[str] = set()  # subscriptions the broker refused
        self._client: aiomqtt.Client | None = None

    async def run(self) -> None:
        """Stay connected until cancelled."""
        loop = asyncio.get_running_loop()
        delay = self.options.backoff_min_s
        while True:
            client = self.options.client(self.client_id)
            connected_at: float | None = None
            try:
                async with client:
                    for topic, qos in self.subscriptions:
                        granted = await client.subscribe(topic, qos=qos)
                        if any(map(_refused, granted)):
                            # e.g. an ACL that does not allow the topic: nothing will arrive
                            self.refused.add(topic)
                            log.warning(
                                "mqtt %s: subscription to %s refused", self.client_id, topic
                            )
                    self._client = client
                    self.connections += 1
                    connected_at = loop.time()
                    self.connected.set()
                    if self.on_connect is not None:
                        self.on_connect()
                    async for message in client.messages:
                        try:
                            self.on_message(message)
                        except Exception:  # one bad message must not end the connection
                            self.errors += 1
                            log.exception("mqtt %s: message on %s", self.client_id, message.topic)
            except aiomqtt.MqttError as exc:
                self.failures += 1
                log.warning("mqtt %s: connection lost or refused (%s)", self.client_id, exc)
            except Exception:
                self.failures += 1
                log.exception("mqtt %s: connection failed", self.client_id)
            finally:
                self._client = None
                self.connected.clear()
            # back to the shortest delay only after a connection that lasted: one that is
            # dropped at once (e.g. a second client with the same id) keeps backing off
            if (
                connected_at is not None
                and loop.time() - connected_at >= self.options.backoff_max_s
            ):
                delay = self.options.backoff_min_s
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 (jitter)
            delay = min(delay * 2, self.options.backoff_max_s)

    async def publish(self, topic: str, payload: bytes, qos: int) -> bool:
        """Publish once; ``True`` when the broker has it (PUBACK for QoS 1), ``False`` when
        not connected or the connection failed on the way (the caller keeps it to retry)."""
        client = self._client
        if client is None:
            return False
        try:
            await client.publish(topic, payload, qos=qos)
        except aiomqtt.MqttError:
            return False
        return True


class RecentKeys:
    """The last ``size`` keys seen, per group: :meth:`seen` says whether a key is a repeat."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._order: dict[Hashable, deque[Hashable]] = {}
        self._keys: dict[Hashable, set[Hashable]] = {}

    def seen(self, group: Hashable, key: Hashable) -> bool:
        keys = self._keys.setdefault(group, set())
        if key in keys:
            return True
        order = self._order.setdefault(group, deque())
        keys.add(key)
        order.append(key)
        if len(order) > self.size:
            keys.discard(order.popleft())
        return False


_ONES = re.compile("1+")


@dataclass(slots=True)
class _Window:
    top: int  # highest seq seen
    top_at: datetime  # the reading time of that seq
    bits: int  # bit k set: seq top - k seen
    floor: int  # first seq of the window: gaps are counted from there
    missing: int = 0  # seqs in (floor, top] inside the window not received


class SeqWindow:
    """Telemetry copies, per resource: has ``(seq, at)`` been seen? Keeps the highest ``seq``,
    its time and a bitmap of the ``size`` seqs below it (an anti-replay window, as in IPsec),
    so memory per resource is ``size`` bits. A copy repeats ``seq`` and ``at``; a device that
    restarted its counter sends a lower (or equal) ``seq`` with a newer ``at``, which starts a
    new window. A ``seq`` more than ``size`` below the highest is too old to tell and counts
    as a copy.

    Over all resources, ``missing`` counts the seqs skipped over and not received yet that are
    still inside their window (lost on the way, or still coming: a resend request can get
    them); ``lost`` those that left the window, or whose counter restarted, without arriving:
    gone for good."""

    def __init__(self, size: int = 16_384) -> None:
        if size < 1:
            raise ValueError(f"size must be positive, got {size}")
        self.size = size
        self._mask = (1 << size) - 1
        self._windows: dict[str, _Window] = {}
        self.missing = 0
        self.lost = 0

    def seen(self, resource_id: str, seq: int, at: datetime) -> bool:
        w = self._windows.get(resource_id)
        if w is None or (seq <= w.top and at > w.top_at):  # first, or a restarted counter
            if w is not None:  # its gaps can no longer be told from new readings
                self.missing -= w.missing
                self.lost += w.missing
            self._windows[resource_id] = _Window(seq, at, 1, seq)
            return False
        if seq > w.top:
            shift = seq - w.top
            w.bits = ((w.bits << shift) | 1) & self._mask if shift < self.size else 1
            w.top, w.top_at = seq, max(at, w.top_at)
            before, w.missing = w.missing, self._absent(w)
            self.missing += w.missing - before
            self.lost += before + shift - 1 - w.missing  # pushed out of the window unseen
            return False
        offset = w.top - seq
        if offset >= self.size or (w.bits >> offset) & 1:
            return True
        w.bits |= 1 << offset
        if seq > w.floor:
            w.missing -= 1  # a late one filled its gap
            self.missing -= 1
        return False

    def _absent(self, w: _Window) -> int:
        """Seqs in (floor, top] inside the window that were not received."""
        if w.top - w.floor >= self.size:
            return self.size - w.bits.bit_count()
        return w.top - w.floor - (w.bits & ((1 << (w.top - w.floor)) - 1)).bit_count()

    def top(self, resource_id: str) -> int | None:
        """The highest seq seen of the resource (None before its first)."""
        w = self._windows.get(resource_id)
        return None if w is None else w.top

    def missing_in(self, resource_id: str, first: int, last: int) -> list[tuple[int, int]]:
        """The runs ``(first, last)`` of seqs in [first, last] skipped over and not received,
        ascending; only seqs still inside the window can be told (older ones are lost)."""
        w = self._windows.get(resource_id)
        if w is None:
            return []
        lo = max(first, w.floor + 1, w.top - self.size + 1)
        hi = min(last, w.top - 1)
        if lo > hi:
            return []
        n = hi - lo + 1
        # bit j of ``absent``: seq hi - j was not received; in binary, character i is seq lo + i
        absent = ~(w.bits >> (w.top - hi)) & ((1 << n) - 1)
        return [(lo + m.start(), lo + m.end() - 1) for m in _ONES.finditer(f"{absent:0{n}b}")]


@dataclass(slots=True)
class GatewayStats:
    """Counters since the gateway started."""

    published: int = 0
    expired_unsent: int = 0  # setpoints whose window ended before the broker took them
    dropped_unsent: int = 0  # setpoints pushed out of a full outbox
    malformed: int = 0  # payloads or topics that failed validation, dropped
    duplicate_telemetry: int = 0
    telemetry_missing: int = 0  # seqs skipped over, not received yet, still in the window
    duplicate_acks: int = 0
    resend_requests: int = 0  # resend requests published (one per missing run)
    telemetry_unrecovered: int = 0  # missing seqs that left the window unreceived: gone
    received: dict[str, int] = field(default_factory=lambda: {"ack": 0, "telemetry": 0})

    def add(self, other: GatewayStats) -> None:
        """Add ``other``'s counters to these (several organizations' gateways together)."""
        for name in self.__slots__:
            mine = getattr(self, name)
            if isinstance(mine, dict):
                for kind, n in getattr(other, name).items():
                    mine[kind] = mine.get(kind, 0) + n
            else:
                setattr(self, name, mine + getattr(other, name))


@dataclass(slots=True)
class _Gap:
    """Telemetry seqs ``first`` … ``last`` of one device skipped over: asked for again at
    ``due`` [loop time] unless they arrive first."""

    first: int
    last: int
    due: float
    attempts: int = 0


MAX_GAPS = 32
"""Open gaps kept per device; a further one is merged into the last (the runs inside a gap
are looked up again before each request, so a merged gap asks only for what is missing)."""
MAX_RUNS = 16
"""Missing runs of one gap asked for one by one; more are asked for as whole ranges (what
arrives twice is dropped as a copy)."""
MAX_REQUESTS_PER_PASS = 256
"""Resend requests one repair pass publishes at most (the gateway's loop serves every
organization's setpoints and heartbeats too)."""


def _requests(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ranges to ask for: the runs themselves, or, when there are many (a device losing
    every other reading), their whole span in pieces of at most ``MAX_RESEND`` seqs."""
    if len(runs) > MAX_RUNS:
        runs = [(runs[0][0], runs[-1][1])]
    return [(x, min(x + MAX_RESEND - 1, b)) for a, b in runs for x in range(a, b + 1, MAX_RESEND)]


class MqttGateway:
    """:class:`~openvpp.dispatch.protocol.DeviceGateway` over MQTT for one organization.

    ``send`` hands setpoints to the broker (waiting for its PUBACK) when connected and keeps
    the rest in an outbox that is flushed after every reconnect; a setpoint whose window has
    ended by then is dropped unsent (``stats.expired_unsent``). A gap in a device's telemetry
    seqs still open ``resend_after_s`` later (readings a broker crash lost) is asked for again
    on the device's ``resend`` topic, with doubling waits, up to ``resend_attempts`` times.
    Use ``async with`` or :meth:`start` / :meth:`aclose`.
    """

    def __init__(
        self,
        options: MqttOptions,
        organization_id: str,
        *,
        clock: Clock | None = None,
        client_id: str | None = None,
        dedup_window: int = 16_384,
        max_pending: int = 100_000,
    ) -> None:
        self.topics = Topics(options.topic_prefix, organization_id)
        self.options = options
        self.clock: Clock = clock or SystemClock()
        self.stats = GatewayStats()
        self.link = BrokerLink(
            options,
            client_id or controller_client_id(self.topics),
            [(f, 1) for f in self.topics.upstream_filters()],
            self._on_message,
            self._wake_flusher,
        )
        self._max_pending = max_pending
        self._outbox: deque[Setpoint] = deque()
        self._events = GatewayEvents()
        self._arrived = asyncio.Event()
        self._telemetry_seen = SeqWindow(dedup_window)
        self._ack_keys = RecentKeys(256)
        self._gaps: dict[str, list[_Gap]] = {}
        self._flush_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> MqttGateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self.link.run()),
                asyncio.create_task(self._heartbeats()),
                asyncio.create_task(self._flusher()),
                asyncio.create_task(self._repairer()),
            ]

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.link.connected.wait(), timeout)
        return self.link.connected.is_set()

    @property
    def pending(self) -> int:
        """Setpoints waiting for the broker."""
        return len(self._outbox)

    async def send(self, setpoints: Sequence[Setpoint]) -> None:
        """Queue the setpoints and, when connected, publish them at QoS 1 and wait for the
        broker's acknowledgement; on a lost connection they stay queued for the next one.
        A setpoint of another organization or with an invalid id is a :class:`ValueError`."""
        for sp in setpoints:
            if sp.organization_id != self.topics.organization_id:
                raise ValueError(f"organization_id: {sp.organization_id!r} is not this gateway's")
            check_id(sp.resource_id, "resource_id")
            check_id(sp.instruction_id, "instruction_id")
        self._outbox.extend(setpoints)
        while len(self._outbox) > self._max_pending:
            self._outbox.popleft()
            self.stats.dropped_unsent += 1
        if self.link.connected.is_set():
            await self._flush()

    async def drain(self) -> GatewayEvents:
        events, self._events = self._events, GatewayEvents()
        self._arrived.clear()
        return events

    async def wait_for_events(self, timeout: float) -> bool:
        """Wait until something arrived that :meth:`drain` would return (or ``timeout``)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), timeout)
        return self._arrived.is_set()

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel_all(tasks)

    # -- internals ----------------------------------------------------------------------

    def _wake_flusher(self) -> None:
        self._wake.set()

    async def _flusher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        async with self._flush_lock:
            now = self.clock.now()
            batch: list[Setpoint] = []
            while self._outbox:
                sp = self._outbox.popleft()
                if sp.valid_until <= now:
                    self.stats.expired_unsent += 1
                else:
                    batch.append(sp)
            if not batch:
                return
            done = await asyncio.gather(
                *(
                    self.link.publish(self.topics.setpoint(sp.resource_id), encode_setpoint(sp), 1)
                    for sp in batch
                )
            )
            failed = [sp for sp, ok in zip(batch, done, strict=True) if not ok]
            self.stats.published += len(batch) - len(failed)
            self._outbox.extendleft(reversed(failed))

    async def _heartbeats(self) -> None:
        seq = 0
        topic = self.topics.controller_heartbeat
        while True:
            if self.link.connected.is_set():
                seq += 1
                payload = encode_controller_heartbeat(ControllerHeartbeat(self.clock.now(), seq))
                await self.link.publish(topic, payload, 0)
            await asyncio.sleep(self.options.heartbeat_s)

    @property
    def open_gaps(self) -> int:
        """Telemetry gaps still missing readings, not given up yet."""
        seen = self._telemetry_seen
        return sum(
            bool(seen.missing_in(rid, g.first, g.last))
            for rid, gaps in self._gaps.items()
            for g in gaps
        )

    async def _repairer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.options.resend_after_s / 4)
            if self._gaps and self.link.connected.is_set():
                try:
                    await self.repair(loop.time())
                except Exception:  # a bug must not end the repairs for good
                    log.exception("mqtt: telemetry gap repair failed")

    async def repair(self, now: float) -> None:
        """Ask the devices for the missing runs of every gap that is due [loop time ``now``],
        at most ``MAX_REQUESTS_PER_PASS`` requests per pass (the rest stay due); drop the gaps
        that were filled, slid out of the window, or had their last request."""
        budget = MAX_REQUESTS_PER_PASS
        for resource_id, gaps in list(self._gaps.items()):
            kept: list[_Gap] = []
            for gap in gaps:
                if gap.due > now or budget <= 0:
                    kept.append(gap)
                    continue
                runs = self._telemetry_seen.missing_in(resource_id, gap.first, gap.last)
                if not runs or gap.attempts >= self.options.resend_attempts:
                    continue  # filled, out of the window, or given up
                requests = _requests(runs)
                if len(requests) > budget:
                    kept.append(gap)
                    budget = 0
                    continue
                budget -= len(requests)
                topic = self.topics.resend(resource_id)
                for first, last in requests:
                    request = ResendRequest(first, last, self.clock.now())
                    if not await self.link.publish(topic, encode_resend(request), 1):
                        break  # the link is down: the gap stays due
                    self.stats.resend_requests += 1
                else:
                    gap.attempts += 1
                    gap.due = now + self.options.resend_after_s * 2**gap.attempts
                kept.append(gap)
            if kept:
                self._gaps[resource_id] = kept
            else:
                self._gaps.pop(resource_id, None)

    def _gap(self, resource_id: str, first: int, last: int) -> None:
        due = asyncio.get_running_loop().time() + self.options.resend_after_s
        gaps = self._gaps.setdefault(resource_id, [])
        if len(gaps) >= MAX_GAPS:  # widen the last one, asked for afresh
            gaps[-1] = _Gap(gaps[-1].first, last, due)
        else:
            gaps.append(_Gap(first, last, due))

    def _on_message(self, message: aiomqtt.Message) -> None:
        try:
            resource_id, kind = self.topics.parse(message.topic.value)
            if resource_id == CONTROLLER:
                return  # our own heartbeat when a filter matches it
            self._accept(resource_id, kind, _payload(message))
        except PayloadError as exc:
            self.stats.malformed += 1
            log.warning("mqtt: dropped a malformed message on %s (%s)", message.topic, exc)

    def _accept(self, resource_id: str, kind: str, payload: bytes) -> None:
        if kind == "telemetry":
            sample = decode_telemetry(payload, resource_id=resource_id)
            self.stats.received["telemetry"] += 1
            top = self._telemetry_seen.top(resource_id)
            copy = self._telemetry_seen.seen(resource_id, sample.seq, sample.at)
            self.stats.telemetry_missing = self._telemetry_seen.missing
            self.stats.telemetry_unrecovered = self._telemetry_seen.lost
            if copy:
                self.stats.duplicate_telemetry += 1
                return
            if top is not None and sample.seq > top + 1:
                self._gap(resource_id, top + 1, sample.seq - 1)
            self._events.telemetry.append(sample)
        elif kind == "ack":
            ack = decode_ack(payload, resource_id=resource_id)
            self.stats.received["ack"] += 1
            if self._ack_keys.seen(resource_id, (ack.instruction_id, ack.status)):
                self.stats.duplicate_acks += 1
                return
            self._events.acks.append(ack)
        elif kind == "heartbeat":
            self._events.heartbeats.append(decode_heartbeat(payload, resource_id=resource_id))
        else:
            raise PayloadError("topic", f"unknown message kind {kind!r}")
        self._arrived.set()


def _payload(message: aiomqtt.Message) -> bytes:
    raw = message.payload
    if isinstance(raw, bytes | bytearray):
        return bytes(raw)
    if isinstance(raw, str):
        return raw.encode()
    raise PayloadError("payload", "is not text")
