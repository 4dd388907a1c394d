"""The device fail-safe: acknowledgements, windows, link loss, ramps (examples and properties)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.dispatch.device import DeviceController, FleetController, ramp_per_second
from openvpp.dispatch.protocol import AckStatus, DeviceMode, Setpoint

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def sp(
    seq: int,
    p: float,
    start_s: float,
    end_s: float,
    *,
    fallback: float = 0.0,
    rid: str = "r1",
) -> Setpoint:
    return Setpoint(
        instruction_id=f"i{seq}",
        organization_id="org",
        resource_id=rid,
        seq=seq,
        p_mw=p,
        valid_from=T0 + timedelta(seconds=start_s),
        valid_until=T0 + timedelta(seconds=end_s),
        fallback_mw=fallback,
        issued_at=T0,
    )


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def device(**kw: float) -> DeviceController:
    args: dict[str, float] = {"p_min_mw": -2.0, "p_max_mw": 2.0, "link_timeout_s": 30.0}
    args.update(kw)
    return DeviceController("r1", **args)


def test_ack_statuses() -> None:
    d = device()
    assert d.receive(sp(1, 1.0, 0, 900), at(0)).status is AckStatus.ACCEPTED
    assert d.receive(sp(1, 1.0, 0, 900), at(1)).status is AckStatus.STALE
    assert d.receive(sp(0, 1.0, 0, 900), at(1)).status is AckStatus.STALE
    assert d.receive(sp(2, 1.0, 0, 900), at(900)).status is AckStatus.EXPIRED
    rejected = d.receive(sp(3, 2.5, 900, 1800), at(2))
    assert rejected.status is AckStatus.REJECTED
    assert "2.5" in rejected.reason
    assert d.receive(sp(4, 0.5, 900, 900), at(2)).status is AckStatus.REJECTED
    assert d.receive(sp(5, 0.5, 0, 900, rid="other"), at(2)).status is AckStatus.REJECTED
    # a rejected setpoint does not advance the sequence
    assert d.last_seq == 1
    assert d.receive(sp(3, -2.0, 900, 1800), at(3)).status is AckStatus.ACCEPTED


def test_follows_setpoint_inside_window_then_falls_back() -> None:
    d = device(fallback_mw=0.3)
    d.receive(sp(1, 1.5, 60, 120, fallback=0.2), at(0))
    d.heartbeat(at(50))
    assert d.target(at(59)) == (0.2, DeviceMode.FALLBACK)  # not yet in force
    assert d.target(at(60)) == (1.5, DeviceMode.FOLLOWING)
    d.heartbeat(at(100))
    assert d.target(at(119)) == (1.5, DeviceMode.FOLLOWING)
    assert d.target(at(120)) == (0.2, DeviceMode.FALLBACK)  # window ended, no successor


def test_newest_seq_wins_when_windows_overlap() -> None:
    d = device()
    d.receive(sp(1, 1.0, 0, 900), at(0))
    d.receive(sp(2, -1.0, 300, 600), at(1))
    assert d.target(at(200), link_ok=True)[0] == 1.0
    assert d.target(at(400), link_ok=True)[0] == -1.0
    assert d.target(at(700), link_ok=True)[0] == 1.0


def test_link_loss_falls_back_and_expired_setpoint_never_applied_after_reconnect() -> None:
    d = device(fallback_mw=0.0)
    d.receive(sp(1, 1.0, 0, 100), at(0))
    d.receive(sp(2, 1.8, 100, 200), at(0))
    assert d.step(at(10)) == (1.0, DeviceMode.FOLLOWING)
    # no heartbeat after t=0: the link times out at 30 s
    assert d.step(at(29))[1] is DeviceMode.FOLLOWING
    assert d.step(at(30)) == (0.0, DeviceMode.FALLBACK)
    # reconnect at 210: both setpoints have expired, neither is applied
    d.heartbeat(at(210))
    assert d.step(at(211)) == (0.0, DeviceMode.FALLBACK)
    assert d.instruction_id(at(211)) is None


def test_ramp_limits_following_moves() -> None:
    d = device(ramp_mw_per_s=0.01, p0_mw=0.0)
    d.receive(sp(1, 2.0, 0, 1000), at(0))
    d.heartbeat(at(0))
    d.step(at(0))
    d.heartbeat(at(20))
    assert d.step(at(20))[0] == pytest.approx(0.2)
    d.heartbeat(at(40))
    assert d.step(at(40))[0] == pytest.approx(0.4)


def test_fault_outputs_zero_and_rejects() -> None:
    d = device(p0_mw=1.0)
    d.set_fault()
    assert d.step(at(0)) == (0.0, DeviceMode.FAULT)
    ack = d.receive(sp(1, 1.0, 0, 100), at(1))
    assert ack.status is AckStatus.REJECTED
    d.set_fault(False)
    assert d.receive(sp(1, 1.0, 0, 100), at(2)).status is AckStatus.ACCEPTED


def test_slots_grow_for_a_day_of_setpoints() -> None:
    f = FleetController(["a", "b"], p_min_mw=-1, p_max_mw=1, ramp_mw_per_s=np.inf, slots=2)
    for k in range(96):
        ack = f.receive(sp(k, k / 100, k * 900, (k + 1) * 900, rid="a"), at(0))
        assert ack.status is AckStatus.ACCEPTED
    f.heard(at(0))
    for k in (0, 40, 95):
        f.heard(at(k * 900 + 1))
        p, mode = f.step_at(at(k * 900 + 1).timestamp())
        assert p[0] == pytest.approx(k / 100)
        assert mode.tolist() == [0, 1]


def test_ramp_per_second() -> None:
    assert ramp_per_second(9.0, 900.0) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="interval_s"):
        ramp_per_second(1.0, 0.0)


# -- properties -------------------------------------------------------------------------

events = st.lists(
    st.tuples(
        st.sampled_from(["sp", "hb", "step"]),
        st.floats(0, 40),  # time advance [s]
        st.floats(-3, 3),  # setpoint power
        st.integers(-5, 60),  # window start offset from now [s]
        st.integers(1, 120),  # window length [s]
        st.integers(-2, 3),  # seq increment
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(
    evs=events,
    ramp=st.floats(0.001, 0.5),
    lo=st.floats(-2, 0),
    hi=st.floats(0, 2),
    timeout=st.floats(5, 60),
)
def test_property_limits_ramps_windows_and_fallback(
    evs: list[tuple[str, float, float, int, int, int]],
    ramp: float,
    lo: float,
    hi: float,
    timeout: float,
) -> None:
    d = DeviceController(
        "r1", p_min_mw=lo, p_max_mw=hi, ramp_mw_per_s=ramp, link_timeout_s=timeout, p0_mw=0.0
    )
    now = 0.0
    seq = 0
    last_heard = -np.inf
    accepted: dict[str, tuple[float, float, float]] = {}
    prev: tuple[float, float, DeviceMode] | None = None
    for kind, adv, p, start, length, dseq in evs:
        now += adv
        if kind == "sp":
            seq += dseq
            s = sp(seq, p, now + start, now + start + length, rid="r1")
            s = replace(s, instruction_id=f"i{len(accepted)}-{seq}")
            ack = d.receive(s, at(now))
            last_heard = now
            if ack.status is AckStatus.ACCEPTED:
                assert lo - 1e-9 <= p <= hi + 1e-9
                assert now < now + start + length
                accepted[s.instruction_id] = (p, now + start, now + start + length)
        elif kind == "hb":
            d.heartbeat(at(now))
            last_heard = now
        else:
            out, mode = d.step(at(now))
            assert lo - 1e-9 <= out <= hi + 1e-9
            if mode is DeviceMode.FOLLOWING:
                iid = d.instruction_id(at(now))
                assert iid is not None
                p_set, start_s, end_s = accepted[iid]
                assert start_s <= now < end_s  # never an expired (or future) setpoint
                # the controller sees times rounded to the microsecond (``at``)
                assert now - last_heard < timeout + 1e-6
                if prev is not None:  # toward the setpoint, within the ramp
                    assert abs(out - prev[1]) <= ramp * (now - prev[0]) + 1e-6
                    assert abs(p_set - out) <= abs(p_set - prev[1]) + 1e-9
            else:
                # link lost or nothing in force: already at the fallback in this cycle
                assert out == pytest.approx(d.fallback_mw)
                if now - last_heard >= timeout + 1e-6:
                    assert mode is DeviceMode.FALLBACK
            prev = (now, out, mode)


@settings(max_examples=60, deadline=None)
@given(
    timeout=st.floats(5, 120),
    cycle=st.floats(0.5, 30),
    fb_ramp=st.floats(0.01, 1.0),
    p=st.floats(-2, 2),
    fallback=st.floats(-1, 1),
)
def test_property_fallback_within_timeout_plus_cycle(
    timeout: float, cycle: float, fb_ramp: float, p: float, fallback: float
) -> None:
    """With a finite fallback ramp the safe setpoint is reached within timeout + one cycle +
    the ramping time; with the default (unlimited) within timeout + one cycle."""
    for limited in (False, True):
        d = DeviceController(
            "r1",
            p_min_mw=-2,
            p_max_mw=2,
            ramp_mw_per_s=10.0,
            link_timeout_s=timeout,
            fallback_mw=fallback,
            fallback_ramp_mw_per_s=fb_ramp if limited else None,
            p0_mw=p,
        )
        d.receive(sp(1, p, 0, 1e6, fallback=fallback), at(0))
        bound = timeout + cycle + (abs(p - fallback) / fb_ramp if limited else 0.0)
        t = 0.0
        while t <= bound + cycle:
            out, mode = d.step(at(t))
            if t >= timeout + 1e-5:  # instants are microseconds: keep clear of rounding
                assert mode is DeviceMode.FALLBACK
            if t >= bound:
                assert out == pytest.approx(fallback, abs=1e-9)
            t += cycle


@settings(max_examples=100, deadline=None)
@given(
    batches=st.lists(
        st.lists(
            st.tuples(
                st.integers(0, 3),  # device
                st.integers(-1, 4),  # seq
                st.floats(-1.5, 1.5),  # power
                st.integers(-30, 30),  # window start from now [s]
                st.integers(0, 60),  # window length [s]
            ),
            max_size=8,
        ),
        min_size=1,
        max_size=5,
    ),
    faulted=st.integers(0, 3),
)
def test_property_batch_receive_equals_one_by_one(
    batches: list[list[tuple[int, int, float, int, int]]], faulted: int
) -> None:
    ids = ["a", "b", "c", "d"]

    def make() -> FleetController:
        f = FleetController(ids, p_min_mw=-1, p_max_mw=1, ramp_mw_per_s=1.0, slots=1)
        f.set_fault([faulted])
        return f

    one, many = make(), make()
    now = 0.0
    for k, batch in enumerate(batches):
        now += 20
        sps = [
            sp(seq, p, now + s0, now + s0 + length, rid=ids[i]) for i, seq, p, s0, length in batch
        ]
        sps = [replace(x, instruction_id=f"{k}-{j}") for j, x in enumerate(sps)]
        rows = [i for i, *_ in batch]
        expected = [one.receive_at(i, x, now) for i, x in zip(rows, sps, strict=True)]
        assert many.receive_batch(rows, sps, now) == expected
        assert one.last_seq.tolist() == many.last_seq.tolist()
        assert one.fallback.tolist() == many.fallback.tolist()
        for t in (now, now + 10, now + 25):
            assert one.target_at(t)[0].tolist() == many.target_at(t)[0].tolist()
            assert one.instruction_ids(t) == many.instruction_ids(t)
