"""Topics and JSON payloads of the MQTT device gateway (pure: no I/O).

Every payload is a JSON object with a version field ``"v": 1`` and exactly the documented keys;
instants are ISO 8601 strings with a UTC offset, power is [MW] with injection positive. Decoding
is strict: anything else (unknown or missing keys, wrong types, NaN/Infinity, out-of-range
values, naive times, oversized payloads, ids that do not match the topic) raises
:class:`PayloadError` naming the field, which the gateways count and drop. See ``docs/mqtt.md``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openvpp.dispatch.protocol import (
    Ack,
    AckStatus,
    DeviceMode,
    Heartbeat,
    Setpoint,
    TelemetrySample,
)

__all__ = [
    "CONTROLLER",
    "MAX_PAYLOAD_BYTES",
    "MAX_POWER_MW",
    "ControllerHeartbeat",
    "PayloadError",
    "ResendRequest",
    "Topics",
    "check_id",
    "decode_ack",
    "decode_controller_heartbeat",
    "decode_heartbeat",
    "decode_resend",
    "decode_setpoint",
    "decode_telemetry",
    "encode_ack",
    "encode_controller_heartbeat",
    "encode_heartbeat",
    "encode_resend",
    "encode_setpoint",
    "encode_telemetry",
]

VERSION = 1
MAX_PAYLOAD_BYTES = 4096
MAX_POWER_MW = 100_000.0
"""Largest |power| a payload may carry [MW]; beyond it the value is a unit or encoding error."""
MAX_SEQ = 2**63 - 1
MAX_RESEND = 16_384
"""Most telemetry seqs one resend request may name (the gateway's de-duplication window)."""
CONTROLLER = "controller"
"""The topic level of the controller heartbeat; no resource may use it as its id."""

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


class PayloadError(ValueError):
    """A payload or topic that does not follow the documented format; ``field`` names why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def check_id(value: object, field: str = "id") -> str:
    """``value`` if it is safe as one topic level: 1-128 of ``A-Z a-z 0-9 _ . : -``, starting
    with a letter or digit (so no ``/``, ``+``, ``#``, ``$``, NUL or empty level), and not the
    reserved ``controller``; otherwise :class:`PayloadError`."""
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        raise PayloadError(field, f"{value!r} is not a valid id (1-128 of A-Z a-z 0-9 _ . : -)")
    if value == CONTROLLER and field == "resource_id":
        raise PayloadError(field, f"{CONTROLLER!r} is reserved for the controller heartbeat")
    return value


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic tree of one organization: ``<prefix>/<organization>/<resource>/<kind>``."""

    prefix: str
    organization_id: str

    def __post_init__(self) -> None:
        check_id(self.prefix, "prefix")
        check_id(self.organization_id, "organization_id")

    @property
    def root(self) -> str:
        return f"{self.prefix}/{self.organization_id}"

    def setpoint(self, resource_id: str) -> str:
        return f"{self.root}/{check_id(resource_id, 'resource_id')}/setpoint"

    def ack(self, resource_id: str) -> str:
        return f"{self.root}/{check_id(resource_id, 'resource_id')}/ack"

    def telemetry(self, resource_id: str) -> str:
        return f"{self.root}/{check_id(resource_id, 'resource_id')}/telemetry"

    def heartbeat(self, resource_id: str) -> str:
        return f"{self.root}/{check_id(resource_id, 'resource_id')}/heartbeat"

    def resend(self, resource_id: str) -> str:
        """Where the controller asks a device to send telemetry again (a gap it never got)."""
        return f"{self.root}/{check_id(resource_id, 'resource_id')}/resend"

    @property
    def controller_heartbeat(self) -> str:
        return f"{self.root}/{CONTROLLER}/heartbeat"

    def upstream_filters(self) -> list[str]:
        """What the controller subscribes to: every resource's ack, telemetry, heartbeat."""
        return [f"{self.root}/+/{kind}" for kind in ("ack", "telemetry", "heartbeat")]

    def parse(self, topic: str) -> tuple[str, str]:
        """``(resource_id, kind)`` of a topic of this organization; :class:`PayloadError` for
        any other topic (another prefix or organization, extra levels, an invalid id)."""
        levels = topic.split("/")
        if len(levels) != 4 or levels[0] != self.prefix or levels[1] != self.organization_id:
            raise PayloadError("topic", f"{topic!r} is not a topic of {self.root}")
        if levels[2] == CONTROLLER:
            return CONTROLLER, levels[3]
        return check_id(levels[2], "resource_id"), levels[3]


@dataclass(frozen=True, slots=True)
class ControllerHeartbeat:
    """The controller's liveness signal; devices fall back when it stops."""

    at: datetime
    seq: int


@dataclass(frozen=True, slots=True)
class ResendRequest:
    """The controller asks a device for its telemetry ``first_seq`` … ``last_seq`` again
    (inclusive): readings the gateway's sequence check found missing, e.g. lost in a broker
    crash. The device sends those it still keeps, unchanged."""

    first_seq: int
    last_seq: int
    at: datetime


# -- encoding -------------------------------------------------------------------------------


def _time(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("instants must be tz-aware")
    return value.astimezone(UTC).isoformat()


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps({"v": VERSION, **obj}, separators=(",", ":"), allow_nan=False).encode()


def encode_setpoint(sp: Setpoint) -> bytes:
    return _dump(
        {
            "instruction_id": sp.instruction_id,
            "organization_id": sp.organization_id,
            "resource_id": sp.resource_id,
            "seq": sp.seq,
            "p_mw": sp.p_mw,
            "valid_from": _time(sp.valid_from),
            "valid_until": _time(sp.valid_until),
            "fallback_mw": sp.fallback_mw,
            "issued_at": _time(sp.issued_at),
        }
    )


def encode_ack(ack: Ack) -> bytes:
    return _dump(
        {
            "instruction_id": ack.instruction_id,
            "resource_id": ack.resource_id,
            "status": ack.status.value,
            "at": _time(ack.at),
            "reason": ack.reason,
        }
    )


def encode_telemetry(sample: TelemetrySample) -> bytes:
    return _dump(
        {
            "resource_id": sample.resource_id,
            "at": _time(sample.at),
            "p_mw": sample.p_mw,
            "seq": sample.seq,
            "soc": sample.soc,
            "mode": sample.mode.value,
        }
    )


def encode_heartbeat(hb: Heartbeat) -> bytes:
    return _dump(
        {
            "resource_id": hb.resource_id,
            "at": _time(hb.at),
            "mode": hb.mode.value,
            "instruction_id": hb.instruction_id,
        }
    )


def encode_controller_heartbeat(hb: ControllerHeartbeat) -> bytes:
    return _dump({"at": _time(hb.at), "seq": hb.seq})


def encode_resend(request: ResendRequest) -> bytes:
    return _dump(
        {"first_seq": request.first_seq, "last_seq": request.last_seq, "at": _time(request.at)}
    )


# -- decoding -------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise PayloadError("payload", f"{name} is not a number")


def _load(payload: bytes | bytearray | str, keys: frozenset[str]) -> dict[str, Any]:
    raw = payload.encode() if isinstance(payload, str) else bytes(payload)
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise PayloadError("payload", f"{len(raw)} bytes exceed {MAX_PAYLOAD_BYTES}")
    try:
        obj = json.loads(raw, parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise PayloadError("payload", f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(obj, dict):
        raise PayloadError("payload", "not a JSON object")
    if obj.get("v") != VERSION or isinstance(obj.get("v"), bool):
        raise PayloadError("v", f"version {obj.get('v')!r} is not {VERSION}")
    expected = keys | {"v"}
    if missing := sorted(expected - obj.keys()):
        raise PayloadError(missing[0], "is missing")
    if unknown := sorted(obj.keys() - expected):
        raise PayloadError(unknown[0], "is not a known field")
    return obj


def _float(obj: dict[str, Any], key: str, lo: float, hi: float) -> float:
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(key, f"{value!r} is not a number")
    result = float(value)
    if not math.isfinite(result) or not lo <= result <= hi:
        raise PayloadError(key, f"{value!r} is outside [{lo}, {hi}]")
    return result


def _power(obj: dict[str, Any], key: str) -> float:
    return _float(obj, key, -MAX_POWER_MW, MAX_POWER_MW)


def _seq(obj: dict[str, Any], key: str = "seq") -> int:
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise PayloadError(key, f"{value!r} is not an integer in [0, 2^63)")
    return value


def _instant(obj: dict[str, Any], key: str) -> datetime:
    value = obj[key]
    if not isinstance(value, str) or len(value) > 40:
        raise PayloadError(key, f"{value!r} is not an ISO 8601 instant")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(key, f"{value!r} is not an ISO 8601 instant") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise PayloadError(key, f"{value!r} has no UTC offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise PayloadError(key, f"{value!r} is out of range") from None


def _mode(obj: dict[str, Any], key: str = "mode") -> DeviceMode:
    value = obj[key]
    try:
        return DeviceMode(value)
    except ValueError:
        raise PayloadError(key, f"{value!r} is not a device mode") from None


def _same(obj: dict[str, Any], key: str, expected: str | None) -> str:
    value = check_id(obj[key], key)
    if expected is not None and value != expected:
        raise PayloadError(key, f"{value!r} does not match the topic's {expected!r}")
    return value


_SETPOINT = frozenset(
    {
        "instruction_id",
        "organization_id",
        "resource_id",
        "seq",
        "p_mw",
        "valid_from",
        "valid_until",
        "fallback_mw",
        "issued_at",
    }
)
_ACK = frozenset({"instruction_id", "resource_id", "status", "at", "reason"})
_TELEMETRY = frozenset({"resource_id", "at", "p_mw", "seq", "soc", "mode"})
_HEARTBEAT = frozenset({"resource_id", "at", "mode", "instruction_id"})
_CONTROLLER_HEARTBEAT = frozenset({"at", "seq"})
_RESEND = frozenset({"first_seq", "last_seq", "at"})


def decode_setpoint(
    payload: bytes | bytearray | str,
    *,
    organization_id: str | None = None,
    resource_id: str | None = None,
) -> Setpoint:
    """The setpoint in ``payload``; its organization and resource must be the topic's."""
    obj = _load(payload, _SETPOINT)
    sp = Setpoint(
        instruction_id=check_id(obj["instruction_id"], "instruction_id"),
        organization_id=_same(obj, "organization_id", organization_id),
        resource_id=_same(obj, "resource_id", resource_id),
        seq=_seq(obj),
        p_mw=_power(obj, "p_mw"),
        valid_from=_instant(obj, "valid_from"),
        valid_until=_instant(obj, "valid_until"),
        fallback_mw=_power(obj, "fallback_mw"),
        issued_at=_instant(obj, "issued_at"),
    )
    if sp.valid_until <= sp.valid_from:
        raise PayloadError("valid_until", "is not after valid_from")
    return sp


def decode_ack(payload: bytes | bytearray | str, *, resource_id: str | None = None) -> Ack:
    obj = _load(payload, _ACK)
    try:
        status = AckStatus(obj["status"])
    except ValueError:
        raise PayloadError("status", f"{obj['status']!r} is not an ack status") from None
    reason = obj["reason"]
    if not isinstance(reason, str) or len(reason) > 500:
        raise PayloadError("reason", "is not a string of at most 500 characters")
    return Ack(
        instruction_id=check_id(obj["instruction_id"], "instruction_id"),
        resource_id=_same(obj, "resource_id", resource_id),
        status=status,
        at=_instant(obj, "at"),
        reason=reason,
    )


def decode_telemetry(
    payload: bytes | bytearray | str, *, resource_id: str | None = None
) -> TelemetrySample:
    obj = _load(payload, _TELEMETRY)
    soc = None if obj["soc"] is None else _float(obj, "soc", 0.0, 1.0)
    return TelemetrySample(
        resource_id=_same(obj, "resource_id", resource_id),
        at=_instant(obj, "at"),
        p_mw=_power(obj, "p_mw"),
        seq=_seq(obj),
        soc=soc,
        mode=_mode(obj),
    )


def decode_heartbeat(
    payload: bytes | bytearray | str, *, resource_id: str | None = None
) -> Heartbeat:
    obj = _load(payload, _HEARTBEAT)
    instruction = obj["instruction_id"]
    return Heartbeat(
        resource_id=_same(obj, "resource_id", resource_id),
        at=_instant(obj, "at"),
        mode=_mode(obj),
        instruction_id=None if instruction is None else check_id(instruction, "instruction_id"),
    )


def decode_controller_heartbeat(payload: bytes | bytearray | str) -> ControllerHeartbeat:
    obj = _load(payload, _CONTROLLER_HEARTBEAT)
    return ControllerHeartbeat(at=_instant(obj, "at"), seq=_seq(obj))


def decode_resend(payload: bytes | bytearray | str) -> ResendRequest:
    obj = _load(payload, _RESEND)
    first, last = _seq(obj, "first_seq"), _seq(obj, "last_seq")
    if not first <= last < first + MAX_RESEND:
        raise PayloadError("last_seq", f"must be in [first_seq, first_seq + {MAX_RESEND})")
    return ResendRequest(first, last, _instant(obj, "at"))
