"""The order store's own process (``runtime_order_store.py``) against the real databases: a
batch written there gives each submission the outcome, audit row and timestamps it gets from
the inline store; a dead store process costs one step (its submissions go one by one) and a
new one takes the next batch; the API audits each order once; the process dies with its
server."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from openvpp import runtime_order_store
from openvpp.runtime import Runtime
from openvpp.runtime_order_store import ProcessStore, runs_in_process
from openvpp.store import tables as t
from openvpp.trading.orders import State
from openvpp.trading.service import Placement
from tests.integration.test_trading_batching import (
    _chain_ok,
    _cmd,
    _placements,
    _submit_audit,
    _uow,
    check_mixed_batch,
    check_placed_with_the_recording,
    submit_concurrently,
    submit_while_sending,
)
from tests.integration.test_trading_concurrency import check_one_order_per_client_order_id
from tests.integration.trading_support import (
    open_hour,
    order_body,
    trading_context,
)
from tests.support import ShiftClock, make_settings

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
"""For what does not depend on the database (the process's life, the request's audit flag)."""


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"order_store": "process"}


@pytest.fixture
def trading(client: TestClient, seeded: Runtime) -> dict[str, Any]:
    return trading_context(client, seeded)


def _store(rt: Runtime) -> ProcessStore:
    store = rt.trading.submissions._store
    assert isinstance(store, ProcessStore)
    return store


def test_only_a_database_another_process_can_open_gets_a_store_process() -> None:
    process = make_settings("sqlite:///x.db", "var", order_store="process")
    inline = make_settings("sqlite:///x.db", "var", order_store="inline")
    assert runs_in_process(process, sa.create_engine("sqlite:////tmp/x.db"))
    assert runs_in_process(process, sa.create_engine("postgresql+psycopg://u@h/db"))
    assert not runs_in_process(process, sa.create_engine("sqlite://"))
    assert not runs_in_process(process, sa.create_engine("sqlite:///:memory:"))
    assert not runs_in_process(inline, sa.create_engine("sqlite:////tmp/x.db"))


def test_a_batch_in_the_store_process_gives_each_submission_its_own_outcome(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock
) -> None:
    clock.advance(600)  # a time the store process can only know from the step
    before = clock.now()
    first = check_mixed_batch(seeded, trading, clock, "p", "req-p")
    after = clock.now()
    store = _store(seeded)
    assert store.pid is not None and store.pid != os.getpid()
    # written there on the server's (shifted) clock: the order and its audit rows
    with seeded.uow(readonly=True) as uow:
        stored = uow.trading_orders.get(trading["org"], first.order.id)
    assert stored is not None and stored.state is State.ACKNOWLEDGED
    assert before <= stored.created_at <= stored.updated_at <= after
    assert stored.created_at > datetime.now(UTC) + timedelta(minutes=9)
    a = t.audit_log
    with seeded.engine.connect() as conn:
        times = conn.execute(sa.select(a.c.occurred_at).where(a.c.object_id == first.order.id))
        assert all(before <= at <= after for at in times.scalars())


def test_concurrent_submissions_through_the_store_process_keep_their_own_actor(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock
) -> None:
    submit_concurrently(seeded, trading, clock, 30)
    assert _store(seeded).starts == 1


@SQLITE_ONLY
def test_a_dead_store_process_costs_at_most_one_step(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock
) -> None:
    ctx = trading
    submissions = seeded.trading.submissions
    submissions.submit(_uow(seeded, ctx, "req-d0"), ctx["principal"], _cmd(ctx, clock, "d-0"))
    store = _store(seeded)
    pid = store.pid
    assert pid is not None and store.starts == 1
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid)
    out = submissions.submit_many(
        _uow(seeded, ctx, "req-d1"), ctx["principal"], [_cmd(ctx, clock, f"d-{i}") for i in (1, 2)]
    )
    assert [o.order.state for o in out if isinstance(o, Placement)] == [State.ACKNOWLEDGED] * 2
    # that batch found the process dead before its first step (and started a new one) or at
    # it (it went one by one here, and the server writes for a pause): either way, once the
    # pause is over, the next batch has a new process
    time.sleep(runtime_order_store.RESTART_PAUSE_S[0])
    _next_batch_has_a_new_process(seeded, ctx, clock, "d-3", pid)


@SQLITE_ONLY
def test_a_hung_store_process_is_killed_and_replaced_after_a_pause(
    seeded: Runtime,
    trading: dict[str, Any],
    clock: ShiftClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process that stops answering (here: stopped by ``SIGSTOP``) is killed after the reply
    timeout; that step's submissions go one by one in the server, the batches of the next
    second are written by the server itself, and then a new process takes over."""
    ctx = trading
    submissions = seeded.trading.submissions
    submissions.submit(_uow(seeded, ctx, "req-h0"), ctx["principal"], _cmd(ctx, clock, "h-0"))
    store = _store(seeded)
    pid = store.pid
    assert pid is not None
    monkeypatch.setattr(runtime_order_store, "REPLY_TIMEOUT_S", 1.0)
    os.kill(pid, signal.SIGSTOP)
    out = submissions.submit_many(
        _uow(seeded, ctx, "req-h1"), ctx["principal"], [_cmd(ctx, clock, f"h-{i}") for i in (1, 2)]
    )
    assert [o.order.state for o in out if isinstance(o, Placement)] == [State.ACKNOWLEDGED] * 2
    assert store.pid is None and store.starts == 1  # killed; the batch went one by one here
    failed_at = time.monotonic()
    _wait_gone(pid)
    monkeypatch.undo()  # a new process's first step includes its start-up
    inline = submissions.submit_many(
        _uow(seeded, ctx, "req-h2"), ctx["principal"], [_cmd(ctx, clock, "h-inline")]
    )
    assert [o.order.state for o in inline if isinstance(o, Placement)] == [State.ACKNOWLEDGED]
    assert store.pid is None and store.starts == 1  # written by the server itself
    time.sleep(max(0.0, failed_at + runtime_order_store.RESTART_PAUSE_S[0] - time.monotonic()))
    _next_batch_has_a_new_process(seeded, ctx, clock, "h-3", pid, orders=5)


def test_submissions_queued_meanwhile_are_placed_with_the_recording_by_the_process(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_placed_with_the_recording(seeded, trading, clock, "q", monkeypatch)
    assert _store(seeded).starts == 1


@SQLITE_ONLY
def test_a_store_process_dead_before_the_next_placing_s_reply_costs_that_step_only(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process records a batch, then dies with the next one's placing (sent with the
    recording) unanswered: the first batch is acknowledged from the recording, the next one
    goes one by one in the server (which finds what the process may have stored before it
    died), and each order is stored, audited and sent once."""
    ctx = trading
    batcher = seeded.trading.submissions
    store = _store(seeded)
    batcher.submit(_uow(seeded, ctx, "req-k0"), ctx["principal"], _cmd(ctx, clock, "k-start"))
    pid = store.pid
    assert pid is not None
    real = batcher._recorded

    def kill_before_the_placing_s_reply(*args: Any) -> None:
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid)
        lost = EOFError("the process died before its reply")  # whether or not it placed
        monkeypatch.setattr(runtime_order_store, "_reply", Mock(side_effect=lost))
        real(*args)

    monkeypatch.setattr(batcher, "_recorded", kill_before_the_placing_s_reply)
    first, following = submit_while_sending(seeded, ctx, clock, "k")
    monkeypatch.undo()
    placed = _placements(first, following)
    assert [p.order.state for p in placed[:2]] == [State.ACKNOWLEDGED] * 2
    for p in placed[2:]:  # placed here, or found placed there
        assert (p.created, p.order.state) in {
            (True, State.ACKNOWLEDGED),
            (False, State.RISK_CHECKED),
        }
    assert store.pid is None and store.starts == 1  # the server writes for a pause
    assert len(_submit_audit(seeded)) == 6
    venue = [o.client_order_id for o in seeded.exchange.orders() if o.account != "cp"]
    assert len(venue) == len(set(venue))
    assert _chain_ok(seeded)


@SQLITE_ONLY
def test_a_store_process_hung_in_a_recording_sent_with_the_next_placing(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process stops answering at the recording that carries the next batch's placing:
    it is killed, the answers are recorded one by one and the next batch is placed by the
    server itself; nothing is lost or written twice."""
    ctx = trading
    store = _store(seeded)
    seeded.trading.submissions.submit(
        _uow(seeded, ctx, "req-s0"), ctx["principal"], _cmd(ctx, clock, "s-start")
    )
    pid = store.pid
    assert pid is not None
    monkeypatch.setattr(runtime_order_store, "REPLY_TIMEOUT_S", 1.0)
    first, following = submit_while_sending(
        seeded, ctx, clock, "s", meanwhile=lambda: os.kill(pid, signal.SIGSTOP)
    )
    placed = _placements(first, following)
    assert [p.order.state for p in placed] == [State.ACKNOWLEDGED] * 5
    assert store.pid is None and store.starts == 1
    _wait_gone(pid)
    assert len(_submit_audit(seeded)) == 6
    venue = [o.client_order_id for o in seeded.exchange.orders() if o.account != "cp"]
    assert len(venue) == len(set(venue)) == 6
    assert _chain_ok(seeded)


@SQLITE_ONLY
def test_a_fault_while_the_next_batch_is_placed_reaches_both_batches_and_keeps_the_pipe(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault while the writer finishes a batch, with the next batch's placing on the pipe:
    every submission of both hears of it, the placing's reply is still read (the next step
    finds the pipe in step, with the same process), and the orders it stored wait for the
    trading loop."""
    ctx = trading
    batcher = seeded.trading.submissions

    def fault(*_args: Any) -> None:
        raise RuntimeError("fault while finishing")

    monkeypatch.setattr(batcher, "_done", fault)
    first, following = submit_while_sending(seeded, ctx, clock, "e")
    monkeypatch.undo()
    assert isinstance(first, RuntimeError) and isinstance(following, RuntimeError)
    with seeded.uow(readonly=True) as uow:
        states = [uow.trading_orders.by_client_id(ctx["org"], f"e-n{i}") for i in range(3)]
    assert [o.state for o in states if o is not None] == [State.RISK_CHECKED] * 3
    after = batcher.submit(_uow(seeded, ctx, "req-e2"), ctx["principal"], _cmd(ctx, clock, "e-2"))
    assert after.order.state is State.ACKNOWLEDGED
    assert _store(seeded).starts == 1


def test_200_concurrent_posts_of_one_client_order_id_through_the_store_process(
    client: TestClient, seeded: Runtime, trading: dict[str, Any], clock: ShiftClock
) -> None:
    """RELIABILITY item 1 on the deployed path (the server's default store)."""
    check_one_order_per_client_order_id(client, seeded, clock, trading)
    assert _store(seeded).starts == 1


@SQLITE_ONLY
def test_the_api_audits_each_order_once(
    client: TestClient, seeded: Runtime, trading: dict[str, Any], clock: ShiftClock
) -> None:
    """The submission's audit row is written in the store process; the request's middleware
    must not add a second one."""
    ctx = trading
    start = open_hour(clock.now())
    for i in range(3):
        r = client.post(
            "/api/vpp/trading/orders",
            headers=ctx["trader"],
            json=order_body(ctx, start, f"api-{i}"),
        )
        assert r.status_code == 201, r.text
        assert r.json()["state"] == "acknowledged"
    a = t.audit_log
    with seeded.engine.connect() as conn:
        rows = conn.execute(
            sa.select(a.c.request_id, a.c.action).where(a.c.request_id.is_not(None))
        ).all()
    per_request: dict[str, list[str]] = {}
    for request_id, action in rows:
        per_request.setdefault(request_id, []).append(action)
    submits = [actions for actions in per_request.values() if "trading.order.submit" in actions]
    assert len(submits) == 3
    assert all(actions == ["trading.order.submit"] for actions in submits), submits


@SQLITE_ONLY
def test_the_store_process_dies_with_its_server_even_mid_step(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock
) -> None:
    """SIGKILL of the server while its store process is in the middle of a step, waiting for
    the SQLite writer lock that this test holds: the process ends at once (its lifeline), not
    when the step could go on. The pipe's end alone would leave it waiting for the lock, then
    commit a batch its dead server never learns of."""
    args = {
        "database_url": seeded.settings.effective_database_url,
        "var_dir": str(seeded.settings.var_dir),
        "organization_id": trading["org"],
        "vpp_id": trading["vpp_id"],
        "client_order_id": "orphan",
        "delivery_start": open_hour(clock.now()).isoformat(),
        "burst": 200,
        "order_store": "process",
    }
    lock = seeded.write_lock
    assert lock is not None
    store = 0
    with lock:  # every write of the server and its store process waits
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.trading_crash_child", json.dumps(args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            lines = _lines(server)
            assert lines.get(timeout=60).strip() == "ready"
            kind, pid = lines.get(timeout=60).split()
            store = int(pid)
            assert kind == "store" and store in _wait_children(server.pid)
            _wait_blocked_on_flock(store)  # the first batch's step waits for the lock
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=30)
            _wait_gone(store)  # the lock still held: ended by its lifeline
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
            if store and Path(f"/proc/{store}").exists():
                os.kill(store, signal.SIGKILL)  # never left to commit after the test
    with seeded.uow(readonly=True) as uow:
        assert uow.trading_orders.by_client_id(trading["org"], "orphan-0") is None


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    """``process``'s output lines, read by a thread (``get`` takes a timeout; a read from the
    pipe does not)."""
    lines: queue.Queue[str] = queue.Queue()
    out = process.stdout
    assert out is not None
    threading.Thread(target=lambda: [lines.put(line) for line in out], daemon=True).start()
    return lines


def _wait_blocked_on_flock(pid: int, timeout_s: float = 30.0) -> None:
    """Wait until ``pid`` waits for a ``flock`` (``/proc/locks`` lists its waiters with
    ``->``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if fields[1:3] == ["->", "FLOCK"] and int(fields[5]) == pid:
                return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} did not wait for a lock within {timeout_s} s")


def _next_batch_has_a_new_process(
    rt: Runtime, ctx: dict[str, Any], clock: ShiftClock, cid: str, old_pid: int, orders: int = 4
) -> None:
    """The next order (``cid``) goes through a second process; each of the ``orders`` submitted
    is audited once."""
    after = rt.trading.submissions.submit(
        _uow(rt, ctx, f"req-{cid}"), ctx["principal"], _cmd(ctx, clock, cid)
    )
    assert after.order.state is State.ACKNOWLEDGED
    store = _store(rt)
    assert store.starts == 2 and store.pid not in (None, old_pid)
    assert len(_submit_audit(rt)) == orders
    assert _chain_ok(rt)


def _wait_children(pid: int, timeout_s: float = 60.0) -> list[int]:
    """The ``multiprocessing`` processes that ``pid`` started, once there is one."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                cmdline = (stat.parent / "cmdline").read_bytes()
            except OSError:
                continue
            if int(fields[1]) == pid and b"spawn_main" in cmdline:
                found.append(int(stat.parent.name))
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"process {pid} started no child within {timeout_s} s")


def _wait_gone(pid: int, timeout_s: float = 10.0) -> None:
    """Wait until ``pid`` has ended (reaped, or a zombie)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} still runs after {timeout_s} s")
