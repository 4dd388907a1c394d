"""The MQTT topics and payloads: round trips, strict validation, no topic injection."""

from __future__ import annotations

import contextlib
import itertools
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from openvpp.dispatch.mqtt import (
    MAX_RUNS,
    MqttOptions,
    RecentKeys,
    SeqWindow,
    _refused,
    _requests,
)
from openvpp.dispatch.mqtt_codec import (
    MAX_PAYLOAD_BYTES,
    MAX_RESEND,
    ControllerHeartbeat,
    PayloadError,
    ResendRequest,
    Topics,
    check_id,
    decode_ack,
    decode_controller_heartbeat,
    decode_heartbeat,
    decode_resend,
    decode_setpoint,
    decode_telemetry,
    encode_ack,
    encode_controller_heartbeat,
    encode_heartbeat,
    encode_resend,
    encode_setpoint,
    encode_telemetry,
)
from openvpp.dispatch.protocol import (
    Ack,
    AckStatus,
    DeviceMode,
    Heartbeat,
    Setpoint,
    TelemetrySample,
)

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def setpoint(**changes: object) -> Setpoint:
    fields: dict[str, object] = {
        "instruction_id": "ins-1",
        "organization_id": "org1",
        "resource_id": "bat-1",
        "seq": 7,
        "p_mw": -2.5,
        "valid_from": T0,
        "valid_until": T0 + timedelta(minutes=15),
        "fallback_mw": 0.0,
        "issued_at": T0 - timedelta(seconds=30),
    }
    fields.update(changes)
    return Setpoint(**fields)  # type: ignore[arg-type]


def test_topics_of_an_organization() -> None:
    topics = Topics("openvpp", "org1")
    assert topics.setpoint("bat-1") == "openvpp/org1/bat-1/setpoint"
    assert topics.ack("bat-1") == "openvpp/org1/bat-1/ack"
    assert topics.telemetry("bat-1") == "openvpp/org1/bat-1/telemetry"
    assert topics.heartbeat("bat-1") == "openvpp/org1/bat-1/heartbeat"
    assert topics.controller_heartbeat == "openvpp/org1/controller/heartbeat"
    assert topics.upstream_filters() == [
        "openvpp/org1/+/ack",
        "openvpp/org1/+/telemetry",
        "openvpp/org1/+/heartbeat",
    ]
    assert topics.parse("openvpp/org1/bat-1/ack") == ("bat-1", "ack")
    assert topics.parse("openvpp/org1/controller/heartbeat") == ("controller", "heartbeat")


@pytest.mark.parametrize(
    "bad", ["", "a/b", "+", "#", "a+", "a#b", "$SYS", "-x", "x" * 129, "a b", "é", "a\x00", 5]
)
def test_ids_that_could_break_out_of_their_topic_level_are_refused(bad: object) -> None:
    with pytest.raises(PayloadError):
        check_id(bad, "resource_id")
    with pytest.raises(PayloadError):
        Topics("openvpp", "org1").setpoint(bad)  # type: ignore[arg-type]
    with pytest.raises(PayloadError):
        Topics("openvpp", bad)  # type: ignore[arg-type]


def test_controller_is_reserved_as_a_resource_id_only() -> None:
    with pytest.raises(PayloadError, match="reserved"):
        Topics("openvpp", "org1").setpoint("controller")
    assert check_id("controller", "instruction_id") == "controller"


@pytest.mark.parametrize(
    "topic",
    [
        "openvpp/org2/bat-1/ack",
        "other/org1/bat-1/ack",
        "openvpp/org1/bat-1/ack/x",
        "openvpp/org1/ack",
        "openvpp/org1/+/ack",
    ],
)
def test_foreign_topics_do_not_parse(topic: str) -> None:
    with pytest.raises(PayloadError):
        Topics("openvpp", "org1").parse(topic)


def test_round_trips() -> None:
    sp = setpoint()
    assert decode_setpoint(encode_setpoint(sp), organization_id="org1", resource_id="bat-1") == sp
    ack = Ack("ins-1", "bat-1", AckStatus.REJECTED, T0, "p_mw=9 outside [-5, 5]")
    assert decode_ack(encode_ack(ack), resource_id="bat-1") == ack
    sample = TelemetrySample("bat-1", T0, 1.25, 42, 0.5, DeviceMode.FALLBACK)
    assert decode_telemetry(encode_telemetry(sample), resource_id="bat-1") == sample
    hb = Heartbeat("bat-1", T0, DeviceMode.FOLLOWING, "ins-1")
    assert decode_heartbeat(encode_heartbeat(hb)) == hb
    assert decode_heartbeat(encode_heartbeat(Heartbeat("bat-1", T0, DeviceMode.FAULT))).mode == (
        DeviceMode.FAULT
    )
    chb = ControllerHeartbeat(T0, 3)
    assert decode_controller_heartbeat(encode_controller_heartbeat(chb)) == chb


def test_instants_go_out_in_utc_and_come_back_in_utc() -> None:
    cet = timezone(timedelta(hours=1))
    sp = setpoint(valid_from=T0.astimezone(cet))
    obj = json.loads(encode_setpoint(sp))
    assert obj["valid_from"] == "2026-12-06T08:00:00+00:00"
    obj["valid_from"] = "2026-12-06T09:00:00+01:00"
    back = decode_setpoint(json.dumps(obj))
    assert back.valid_from == T0
    assert back.valid_from.tzinfo is UTC


def mutated(field: str, value: object) -> bytes:
    obj = json.loads(encode_telemetry(TelemetrySample("bat-1", T0, 1.0, 1)))
    obj[field] = value
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"", "payload"),
        (b"\xff\xfe", "payload"),
        (b"[1, 2]", "payload"),
        (b'{"v": 1, "p_mw": NaN}', "payload"),
        (mutated("v", 2), "v"),
        (mutated("v", True), "v"),
        (mutated("p_mw", "1.0"), "p_mw"),
        (mutated("p_mw", True), "p_mw"),
        (mutated("p_mw", 1e300), "p_mw"),
        (mutated("seq", -1), "seq"),
        (mutated("seq", 1.5), "seq"),
        (mutated("seq", 2**64), "seq"),
        (mutated("soc", 1.5), "soc"),
        (mutated("mode", "dancing"), "mode"),
        (mutated("at", "2026-12-06T08:00:00"), "at"),
        (mutated("at", "yesterday"), "at"),
        (mutated("at", 1765000000), "at"),
        (mutated("resource_id", "bat/2"), "resource_id"),
        (mutated("resource_id", "bat-2"), "resource_id"),  # not the topic's resource
        (mutated("extra", 1), "extra"),
        (b'{"v": 1, "resource_id": "bat-1"}', "at"),
        (b'{"v": 1, "x": "' + b"a" * MAX_PAYLOAD_BYTES + b'"}', "payload"),
    ],
)
def test_malformed_telemetry_names_the_field(payload: bytes, field: str) -> None:
    with pytest.raises(PayloadError) as info:
        decode_telemetry(payload, resource_id="bat-1")
    assert info.value.field == field


def test_setpoint_checks_window_and_addressing() -> None:
    empty = setpoint(valid_until=T0)
    with pytest.raises(PayloadError, match="valid_until"):
        decode_setpoint(encode_setpoint(empty))
    with pytest.raises(PayloadError, match="organization_id"):
        decode_setpoint(encode_setpoint(setpoint()), organization_id="org2")
    with pytest.raises(PayloadError, match="resource_id"):
        decode_setpoint(encode_setpoint(setpoint()), resource_id="bat-2")


def test_naive_instants_are_not_encoded() -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        encode_setpoint(setpoint(valid_from=datetime(2026, 12, 6, 8, 0)))


@given(st.binary(max_size=300) | st.text(max_size=300))
def test_arbitrary_bytes_only_ever_raise_payload_error(payload: bytes | str) -> None:
    for decode in (decode_telemetry, decode_ack, decode_heartbeat, decode_setpoint):
        with contextlib.suppress(PayloadError):
            decode(payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)


@given(
    st.dictionaries(
        st.sampled_from(["v", "resource_id", "at", "p_mw", "seq", "soc", "mode"]), json_values
    )
)
def test_near_miss_objects_only_ever_raise_payload_error(obj: dict[str, object]) -> None:
    try:
        sample = decode_telemetry(json.dumps(obj))
    except PayloadError:
        return
    assert sample.p_mw == sample.p_mw  # never NaN


@given(
    p=st.floats(-1e5, 1e5, allow_nan=False),
    seq=st.integers(0, 2**63 - 1),
    soc=st.none() | st.floats(0, 1),
    at=st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
)
def test_telemetry_round_trips_exactly(p: float, seq: int, soc: float | None, at: datetime) -> None:
    sample = TelemetrySample("r.1:x_y-z", at, p, seq, soc, DeviceMode.FOLLOWING)
    assert decode_telemetry(encode_telemetry(sample)) == sample


def test_recent_keys_remember_a_window_per_group() -> None:
    keys = RecentKeys(3)
    assert not keys.seen("a", 1)
    assert keys.seen("a", 1)
    assert not keys.seen("b", 1)
    for k in (2, 3, 4):
        assert not keys.seen("a", k)
    assert not keys.seen("a", 1)  # fell out of the window of 3
    assert keys.seen("a", 4)


def test_options_from_url() -> None:
    o = MqttOptions.from_url("mqtt://dev%40x:p%2Fw@broker.example:1884", heartbeat_s=2.0)
    assert (o.host, o.port, o.username, o.password, o.tls) == (
        "broker.example",
        1884,
        "dev@x",
        "p/w",
        False,
    )
    assert o.heartbeat_s == 2.0
    assert MqttOptions.from_url("mqtts://b").port == 8883
    with pytest.raises(ValueError, match="mqtt_url"):
        MqttOptions.from_url("http://b")


def at(seq: int) -> datetime:
    return T0 + timedelta(seconds=seq)


def test_seq_window_drops_copies_and_keeps_late_originals() -> None:
    w = SeqWindow(8)
    assert not w.seen("a", 5, at(5))
    assert w.seen("a", 5, at(5))  # a copy
    assert not w.seen("a", 7, at(7))
    assert not w.seen("a", 6, at(6))  # late, but new
    assert w.seen("a", 6, at(6))
    assert not w.seen("b", 6, at(6))  # per resource
    assert not w.seen("a", 20, at(20))
    assert w.seen("a", 12, at(12))  # more than the window below the highest: too old
    assert not w.seen("a", 13, at(13))


def test_seq_window_starts_over_when_a_device_restarts_its_counter() -> None:
    w = SeqWindow(8)
    for seq in range(10):
        assert not w.seen("a", seq, at(seq))
    restarted = at(100)
    assert not w.seen("a", 0, restarted)  # lower seq, newer reading: a restart
    assert w.seen("a", 0, restarted)
    assert not w.seen("a", 1, restarted + timedelta(seconds=1))
    assert w.seen("a", 0, restarted)
    assert w.seen("a", 1, restarted + timedelta(seconds=1))


@given(st.lists(st.integers(0, 300), max_size=400), st.integers(1, 64))
def test_seq_window_agrees_with_a_set_within_its_window(seqs: list[int], size: int) -> None:
    """A device that never restarts: a sample is a copy exactly when its seq was seen before,
    for every seq within ``size`` of the highest; older ones count as copies. Of the seqs from
    the first to the highest not taken, ``missing`` counts those inside the window, ``lost``
    those that left it."""
    w = SeqWindow(size)
    seen: set[int] = set()
    accepted: set[int] = set()
    top = -1
    for seq in seqs:
        expected = seq in seen or seq <= top - size
        copy = w.seen("r", seq, at(seq))
        assert copy == expected
        seen.add(seq)
        if not copy:
            accepted.add(seq)
        top = max(top, seq)
        # every seq from the first to the highest that was not taken is missing or lost
        absent = set(range(seqs[0], top + 1)) - accepted
        assert w.missing == len({s for s in absent if s > top - size})
        assert w.lost == len({s for s in absent if s <= top - size})


@given(
    st.lists(st.integers(0, 300), min_size=1, max_size=400),
    st.integers(1, 64),
    st.integers(0, 320),
    st.integers(0, 80),
)
def test_missing_runs_are_the_seqs_not_taken_within_the_window(
    seqs: list[int], size: int, first: int, span: int
) -> None:
    """``missing_in`` lists, as ascending disjoint runs, exactly the seqs of [first, last]
    after the first seq and below the highest, within the window, that were not taken."""
    w = SeqWindow(size)
    taken: set[int] = set()
    for seq in seqs:
        if not w.seen("r", seq, at(seq)):
            taken.add(seq)
    top, floor = max(seqs), seqs[0]
    last = first + span
    runs = w.missing_in("r", first, last)
    listed = [s for a, b in runs for s in range(a, b + 1)]
    assert listed == sorted(
        s
        for s in range(max(first, floor + 1, top - size + 1), min(last, top - 1) + 1)
        if s not in taken
    )
    assert all(b + 1 < c for (_, b), (c, _) in itertools.pairwise(runs))  # disjoint
    assert w.missing_in("other", first, last) == []
    assert w.top("r") == top and w.top("other") is None


def test_resend_requests_round_trip_and_bad_ranges_are_refused() -> None:
    request = ResendRequest(10, 40, T0)
    assert decode_resend(encode_resend(request)) == request
    assert Topics("openvpp", "org").resend("bat-1") == "openvpp/org/bat-1/resend"
    for first, last in ((5, 4), (0, MAX_RESEND)):
        payload = json.dumps({"v": 1, "first_seq": first, "last_seq": last, "at": T0.isoformat()})
        with pytest.raises(PayloadError) as caught:
            decode_resend(payload)
        assert caught.value.field == "last_seq"
    with pytest.raises(PayloadError) as caught:
        decode_resend(json.dumps({"v": 1, "first_seq": -1, "last_seq": 3, "at": T0.isoformat()}))
    assert caught.value.field == "first_seq"


def test_a_restarted_counter_turns_the_old_windows_gaps_into_lost() -> None:
    w = SeqWindow(8)
    for seq in (0, 1, 4):
        assert not w.seen("a", seq, at(seq))
    assert (w.missing, w.lost) == (2, 0)
    assert not w.seen("a", 0, at(100))  # restarted
    assert (w.missing, w.lost) == (0, 2)
    assert w.missing_in("a", 0, 10) == []


def test_resend_requests_name_the_runs_or_their_span_in_window_sized_pieces() -> None:
    assert _requests([(3, 4), (9, 9)]) == [(3, 4), (9, 9)]
    long_run = [(0, MAX_RESEND + 10)]
    assert _requests(long_run) == [(0, MAX_RESEND - 1), (MAX_RESEND, MAX_RESEND + 10)]
    every_other = [(s, s) for s in range(1, 2 * (MAX_RUNS + 1), 2)]  # more runs than asked singly
    assert _requests(every_other) == [(1, 2 * MAX_RUNS + 1)]


def test_a_refused_subscription_is_told_from_a_granted_one() -> None:
    assert [_refused(code) for code in (0, 1, 2, 0x80)] == [False, False, False, True]
    assert _refused(ReasonCode(PacketTypes.SUBACK, "Not authorized"))
    assert not _refused(ReasonCode(PacketTypes.SUBACK, "Granted QoS 1"))
