"""Group commit of order submissions (``trading/batching.py``) against the real database: each
submission of a batch gets the outcome it would get alone, with its own audit row and actor;
a failing step falls back to the one-by-one path; a fault in a batch reaches every submission
and never leaves one waiting."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any, cast

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from openvpp.audit.chain import AuditContext
from openvpp.audit.service import verify_chain
from openvpp.core.errors import Conflict, DomainError, NotFound
from openvpp.runtime import Runtime
from openvpp.store import tables as t
from openvpp.trading import batch_store, batching
from openvpp.trading import orders as om
from openvpp.trading.orders import Order, State
from openvpp.trading.records import SubmitOrder
from openvpp.trading.risk import Exposure
from openvpp.trading.service import Placement, Recording
from tests.integration.trading_support import (
    MARKET,
    PRODUCT,
    open_hour,
    trading_context,
)
from tests.support import ShiftClock, bearer, demo


@pytest.fixture
def trading(client: TestClient, seeded: Runtime) -> dict[str, Any]:
    return trading_context(client, seeded)


def _cmd(ctx: dict[str, Any], clock: ShiftClock, cid: str, **over: Any) -> SubmitOrder:
    fields: dict[str, Any] = {
        "client_order_id": cid,
        "vpp_id": ctx["vpp_id"],
        "market": MARKET,
        "product": PRODUCT,
        "delivery_start": open_hour(clock.now()),
        "side": "sell",
        "price": Decimal(50),
        "quantity": Decimal(1),
        **over,
    }
    return SubmitOrder(**fields)


def _uow(rt: Runtime, ctx: dict[str, Any], request_id: str) -> Any:
    return rt.uow(
        AuditContext(
            actor_type="user",
            actor_id="trader",
            organization_id=ctx["org"],
            request_id=request_id,
        )
    )


def _submit_audit(rt: Runtime) -> dict[str, str | None]:
    """order id -> request id of its ``trading.order.submit`` audit row."""
    a = t.audit_log
    with rt.engine.connect() as conn:
        rows = conn.execute(
            sa.select(a.c.object_id, a.c.request_id).where(a.c.action == "trading.order.submit")
        ).all()
    return {r[0]: r[1] for r in rows}


def _chain_ok(rt: Runtime) -> bool:
    return verify_chain(rt.uow(readonly=True, snapshot=True), rt.audit_key).ok


def check_mixed_batch(
    rt: Runtime, ctx: dict[str, Any], clock: ShiftClock, prefix: str, request_id: str
) -> Placement:
    """Submit one batch of new, repeated, conflicting, invalid and risk-refused orders (client
    order ids ``{prefix}-1`` …) and check each outcome, the venue's orders and the audit rows;
    the first order's placement."""
    cmds = [
        _cmd(ctx, clock, f"{prefix}-1"),
        _cmd(ctx, clock, f"{prefix}-2", side="buy", price=Decimal(10)),
        _cmd(ctx, clock, f"{prefix}-1"),  # the same again: the stored order
        _cmd(ctx, clock, f"{prefix}-1", quantity=Decimal(2)),  # the same id, another body: 409
        _cmd(ctx, clock, f"{prefix}-3", vpp_id="no-such-vpp"),  # 404
        _cmd(ctx, clock, f"{prefix}-4", price=Decimal(1_000_000)),  # outside the collar
    ]
    out = rt.trading.submissions.submit_many(_uow(rt, ctx, request_id), ctx["principal"], cmds)
    first, second, again, conflict, missing, collared = out
    assert isinstance(first, Placement) and first.created
    assert first.order.state is State.ACKNOWLEDGED
    assert isinstance(second, Placement) and second.order.state is State.ACKNOWLEDGED
    assert isinstance(again, Placement) and not again.created
    assert again.order.id == first.order.id
    assert isinstance(conflict, Conflict) and conflict.field == "client_order_id"
    assert isinstance(missing, NotFound) and missing.field == "vpp_id"
    assert isinstance(collared, Placement) and collared.order.state is State.REJECTED
    assert collared.order.risk_rule == "price_collar"
    # one venue order per accepted order, one submit audit row per stored order
    assert sorted(o.client_order_id for o in rt.exchange.orders() if o.account != "cp") == [
        f"{prefix}-1",
        f"{prefix}-2",
    ]
    audited = _submit_audit(rt)
    assert set(audited) == {first.order.id, second.order.id, collared.order.id}
    assert set(audited.values()) == {request_id}
    assert _chain_ok(rt)
    return first


def submit_concurrently(rt: Runtime, ctx: dict[str, Any], clock: ShiftClock, n: int) -> None:
    """``n`` threads submit one order each at once (request ``req-{i}``): each is acknowledged
    and audited with its own request id."""
    results: dict[int, Placement | BaseException] = {}
    start = threading.Barrier(n)

    def one(i: int) -> None:
        start.wait()
        try:
            results[i] = rt.trading.submissions.submit(
                _uow(rt, ctx, f"req-{i}"), ctx["principal"], _cmd(ctx, clock, f"c-{i}")
            )
        except BaseException as exc:  # reported below
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    placed = {i: r for i, r in results.items() if isinstance(r, Placement)}
    assert len(placed) == n, {i: r for i, r in results.items() if not isinstance(r, Placement)}
    assert {p.order.state for p in placed.values()} == {State.ACKNOWLEDGED}
    audited = _submit_audit(rt)
    for i, p in placed.items():
        assert p.order.client_order_id == f"c-{i}"
        assert audited[p.order.id] == f"req-{i}"
    assert _chain_ok(rt)


Outcomes = list[Placement | DomainError] | Exception
"""What ``submit_many`` gave, or the error it raised."""


def submit_while_sending(
    rt: Runtime,
    ctx: dict[str, Any],
    clock: ShiftClock,
    prefix: str,
    meanwhile: Callable[[], object] = lambda: None,
) -> tuple[Outcomes, Outcomes]:
    """Submit ``{prefix}-0`` and ``{prefix}-1`` in one batch; while the venue is asked for
    them, three more (``{prefix}-n0`` …, request ``req-{prefix}-n``) queue, then ``meanwhile``
    runs in the writer. The outcomes of both batches."""
    batcher = rt.trading.submissions
    service = rt.trading.orders
    out: dict[str, Outcomes] = {}

    def submit(key: str, cids: list[str]) -> None:
        cmds = [_cmd(ctx, clock, cid) for cid in cids]
        try:
            out[key] = batcher.submit_many(_uow(rt, ctx, f"req-{key}"), ctx["principal"], cmds)
        except Exception as exc:
            out[key] = exc

    thread = threading.Thread(
        target=submit, args=(f"{prefix}-n", [f"{prefix}-n{i}" for i in range(3)])
    )

    def queue_the_next(point: str, order: Order) -> None:
        if point == "after_send_before_ack" and order.client_order_id == f"{prefix}-0":
            thread.start()
            while not batcher._queue:  # queued, waiting for the writer (this thread)
                time.sleep(0.001)
            meanwhile()

    service.fault = queue_the_next
    try:
        submit(prefix, [f"{prefix}-{i}" for i in range(2)])
        thread.join(60)
    finally:
        service.fault = None
    return out[prefix], out[f"{prefix}-n"]


def _placements(*outcomes: Outcomes) -> list[Placement]:
    placed: list[Placement] = []
    for out in outcomes:
        assert isinstance(out, list), out
        placed += [o for o in out if isinstance(o, Placement)]
    return placed


def check_placed_with_the_recording(
    rt: Runtime, ctx: dict[str, Any], clock: ShiftClock, prefix: str, monkeypatch: Any
) -> None:
    """Submissions queued while a batch is at the venue are placed by the store together with
    that batch's recording (``record_then_place``), and each gets the outcome and audit row it
    would get alone."""
    store = rt.trading.submissions._store
    real = store.record_then_place
    sizes: list[tuple[int, int]] = []

    def spy(uow: Any, recordings: Any, entries: Any, now: Any, recorded: Any) -> Any:
        sizes.append((len(recordings), len(entries)))
        return real(uow, recordings, entries, now, recorded)

    monkeypatch.setattr(store, "record_then_place", spy)
    first, following = submit_while_sending(rt, ctx, clock, prefix)
    assert sizes == [(2, 3)]
    placed = _placements(first, following)
    assert len(placed) == 5 and all(p.created for p in placed)
    assert {p.order.state for p in placed} == {State.ACKNOWLEDGED}
    audited = _submit_audit(rt)
    assert [audited[p.order.id] for p in placed] == [f"req-{prefix}"] * 2 + [f"req-{prefix}-n"] * 3
    venue = sorted(o.client_order_id for o in rt.exchange.orders() if o.account != "cp")
    assert venue == sorted(p.order.client_order_id for p in placed)  # each sent once
    assert _chain_ok(rt)


def test_a_batch_gives_each_submission_its_own_outcome(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock
) -> None:
    check_mixed_batch(seeded, trading, clock, "b", "req-1")


def test_concurrent_submissions_share_batches_and_keep_their_own_actor(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock
) -> None:
    n = 40
    submit_concurrently(seeded, trading, clock, n)
    batcher = seeded.trading.submissions
    assert batcher.batches < n and batcher.largest > 1  # they shared batches


def test_submissions_queued_meanwhile_are_placed_with_the_recording(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_placed_with_the_recording(seeded, trading, clock, "q", monkeypatch)


def test_a_failing_record_step_falls_back_to_one_by_one(
    seeded: Runtime,
    trading: dict[str, Any],
    clock: ShiftClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx = trading
    service = seeded.trading.orders
    real = service.record_many
    failed = {"n": 0}

    def failing(uow: Any, recordings: list[Recording], now: Any, **kw: Any) -> list[Order]:
        if any(r[4] is not None for r in recordings):  # only the batch's recording
            failed["n"] += 1
            raise RuntimeError("injected")
        return real(uow, recordings, now, **kw)

    monkeypatch.setattr(service, "record_many", failing)
    out = seeded.trading.submissions.submit_many(
        _uow(seeded, ctx, "req-r"), ctx["principal"], [_cmd(ctx, clock, f"r-{i}") for i in range(3)]
    )
    assert failed["n"] == 1
    assert [o.order.state for o in out if isinstance(o, Placement)] == [State.ACKNOWLEDGED] * 3
    assert _chain_ok(seeded)


def test_an_order_changed_between_sending_and_recording_is_recorded_on_the_stored_row(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The batch records the answers on the orders as it placed them, without reading them
    again; a cancellation requested meanwhile (another request) makes the versioned update
    refuse, and the answers are recorded one by one on the stored rows: nothing is lost."""
    ctx = trading
    service = seeded.trading.orders

    def cancel_meanwhile(point: str, order: Order) -> None:
        if point == "after_send_before_ack" and order.client_order_id == "m-1":
            with seeded.uow() as uow:
                stored = uow.trading_orders.get(order.organization_id, order.id)
            assert stored is not None
            service.record(
                seeded.uow(), stored, [om.CancelRequested()], "trading.order.cancel_request", {}
            )

    service.fault = cancel_meanwhile
    caplog.set_level(logging.INFO, logger="openvpp.trading.batch_store")
    try:
        out = seeded.trading.submissions.submit_many(
            _uow(seeded, ctx, "req-m"),
            ctx["principal"],
            [_cmd(ctx, clock, f"m-{i}") for i in range(3)],
        )
    finally:
        service.fault = None
    placed = [o for o in out if isinstance(o, Placement)]
    states = {p.order.client_order_id: p.order.state for p in placed}
    assert states == {"m-0": State.ACKNOWLEDGED, "m-1": State.CANCELLED, "m-2": State.ACKNOWLEDGED}
    # an expected race (a kill switch does this): told without a traceback, not as an error
    [told] = [r for r in caplog.records if r.name == "openvpp.trading.batch_store"]
    assert told.levelno == logging.INFO and told.exc_info is None
    assert "changed concurrently" in told.getMessage() and "one by one" in told.getMessage()
    with seeded.uow(readonly=True) as uow:
        stored = uow.trading_orders.get(ctx["org"], placed[1].order.id)
    assert stored is not None and stored.state is State.CANCELLED and stored.cancel_requested
    assert _chain_ok(seeded)


def test_a_client_order_id_taken_after_the_lookup_sends_the_batch_one_by_one(
    seeded: Runtime,
    trading: dict[str, Any],
    clock: ShiftClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another process may store a client order id between the batch's lookup and its insert
    (PostgreSQL, MariaDB): the unique constraint refuses the batch's insert, nothing of the
    batch stays, and each submission gets its own outcome one by one."""
    ctx = trading
    submissions = seeded.trading.submissions
    first = submissions.submit(
        _uow(seeded, ctx, "req-0"), ctx["principal"], _cmd(ctx, clock, "t-0")
    )
    monkeypatch.setattr(batch_store, "_taken", lambda uow, entries: set())  # the lookup misses it
    cmds = [_cmd(ctx, clock, "t-1"), _cmd(ctx, clock, "t-0"), _cmd(ctx, clock, "t-2")]
    out = submissions.submit_many(_uow(seeded, ctx, "req-t"), ctx["principal"], cmds)
    assert all(isinstance(o, Placement) for o in out)
    assert [o.created for o in out if isinstance(o, Placement)] == [True, False, True]
    replayed = out[1]
    assert isinstance(replayed, Placement) and replayed.order.id == first.order.id
    venue = sorted(o.client_order_id for o in seeded.exchange.orders() if o.account != "cp")
    assert venue == ["t-0", "t-1", "t-2"]  # each once at the venue
    assert len(_submit_audit(seeded)) == 3
    assert _chain_ok(seeded)


def test_a_failing_store_step_submits_one_by_one(
    seeded: Runtime,
    trading: dict[str, Any],
    clock: ShiftClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx = trading
    service = seeded.trading.orders
    real = service.place
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the second order of the batch: a database error, say
            raise sa.exc.OperationalError("insert", {}, Exception("injected"))
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "place", flaky)
    out = seeded.trading.submissions.submit_many(
        _uow(seeded, ctx, "req-s"), ctx["principal"], [_cmd(ctx, clock, f"s-{i}") for i in range(3)]
    )
    assert [o.order.state for o in out if isinstance(o, Placement)] == [State.ACKNOWLEDGED] * 3
    assert sorted(p.order.client_order_id for p in out if isinstance(p, Placement)) == [
        "s-0",
        "s-1",
        "s-2",
    ]
    with seeded.engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(t.trading_orders)).scalar()
    assert stored == 3  # the failed batch left nothing behind
    assert _chain_ok(seeded)


def test_a_fault_in_a_batch_reaches_every_submission_and_the_next_batch_runs(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock
) -> None:
    ctx = trading
    service = seeded.trading.orders

    def crash(point: str, order: Order) -> None:
        if point == "after_commit_before_send":
            raise RuntimeError(f"crash at {point}")

    service.fault = crash
    try:
        with pytest.raises(RuntimeError, match="crash at"):
            seeded.trading.submissions.submit_many(
                _uow(seeded, ctx, "req-f"),
                ctx["principal"],
                [_cmd(ctx, clock, f"f-{i}") for i in range(3)],
            )
    finally:
        service.fault = None
    with seeded.uow(readonly=True) as uow:
        stored = [uow.trading_orders.by_client_id(ctx["org"], f"f-{i}") for i in range(3)]
    assert [o.state for o in stored if o is not None] == [
        State.RISK_CHECKED
    ] * 3  # for the reconciler
    after = seeded.trading.submissions.submit(
        _uow(seeded, ctx, "req-g"), ctx["principal"], _cmd(ctx, clock, "g-1")
    )
    assert after.order.state is State.ACKNOWLEDGED


def test_a_failing_batch_callback_fails_no_submission(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch-size callback (a metric) raising must not end the writer: every submission
    would then wait for ever."""
    ctx = trading
    batcher = seeded.trading.submissions

    def broken(_size: int) -> None:
        raise RuntimeError("the metric is down")

    monkeypatch.setattr(batcher, "on_batch", broken)
    out: list[Placement] = []

    def submit_two() -> None:
        for cid in ("cb-1", "cb-2"):
            out.append(
                batcher.submit(
                    _uow(seeded, ctx, f"req-{cid}"), ctx["principal"], _cmd(ctx, clock, cid)
                )
            )

    thread = threading.Thread(target=submit_two, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "a submission never got its result"
    assert [p.order.state for p in out] == [State.ACKNOWLEDGED] * 2


def test_a_submission_alone_is_a_batch_of_one(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock
) -> None:
    ctx = trading
    placed = seeded.trading.submissions.submit(
        _uow(seeded, ctx, "req-a"), ctx["principal"], _cmd(ctx, clock, "a-1")
    )
    assert placed.created and placed.order.state is State.ACKNOWLEDGED
    replay = seeded.trading.submissions.submit(
        _uow(seeded, ctx, "req-b"), ctx["principal"], _cmd(ctx, clock, "a-1")
    )
    assert not replay.created and replay.order.id == placed.order.id
    with pytest.raises(DomainError):
        seeded.trading.submissions.submit(
            _uow(seeded, ctx, "req-c"), ctx["principal"], _cmd(ctx, clock, "a-2", vpp_id="none")
        )


def test_batched_risk_decisions_equal_one_by_one(
    client: TestClient, seeded: Runtime, trading: dict[str, Any], clock: ShiftClock
) -> None:
    """Sixty random orders in one batch on one VPP and one by one on a twin VPP with the same
    limits: the same decision for each (the batch's reads are kept current as it places)."""
    ctx = trading
    twin = client.post(
        "/api/vpp/vpps", headers=ctx["admin"], json={"name": "Twin", "market_area": "DE-LU"}
    )
    assert twin.status_code == 201, twin.text
    operator = bearer(client, demo("operator"))
    for vpp in (ctx["vpp_id"], twin.json()["id"]):
        limits = {
            "vpp_id": vpp,
            "market": MARKET,
            "max_position_mw": "5",
            "max_order_mw": "3",
            "max_orders_per_minute": 25,
        }
        put = client.put("/api/vpp/trading/limits", headers=operator, json=limits)
        assert put.status_code == 200, put.text
    rng = random.Random(7)
    hours = [open_hour(clock.now(), h) for h in (3, 4, 5)]
    specs = [
        (
            rng.choice(("buy", "sell")),
            rng.choice(hours),
            Decimal(rng.choice(("0.5", "1", "2", "3.5"))),
        )
        for _ in range(60)
    ]

    def cmds(vpp: str, prefix: str) -> list[SubmitOrder]:
        # buys at 10 and sells at 900: nothing matches, exposure is open volume only
        return [
            _cmd(
                ctx,
                clock,
                f"{prefix}-{i}",
                vpp_id=vpp,
                side=side,
                delivery_start=start,
                price=Decimal(10 if side == "buy" else 900),
                quantity=qty,
            )
            for i, (side, start, qty) in enumerate(specs)
        ]

    batched = seeded.trading.submissions.submit_many(
        _uow(seeded, ctx, "req-x"), ctx["principal"], cmds(ctx["vpp_id"], "x")
    )
    assert seeded.trading.submissions.largest == 60
    alone = [
        seeded.trading.orders.submit(_uow(seeded, ctx, "req-y"), ctx["principal"], c)
        for c in cmds(twin.json()["id"], "y")
    ]
    decided = [(p.order.state, p.order.risk_rule) for p in batched if isinstance(p, Placement)]
    assert decided == [(p.order.state, p.order.risk_rule) for p in alone]
    rules = {rule for _, rule in decided}
    assert {None, "max_order_mw", "max_position_mw", "max_orders_per_minute"} <= rules, rules


def test_the_exposure_of_several_intervals_in_one_query_equals_each_alone(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock
) -> None:
    ctx = trading
    hours = [open_hour(clock.now(), h) for h in (3, 4, 5)]
    cmds = [
        _cmd(ctx, clock, f"x-{i}", side=side, delivery_start=hours[i % 2], price=Decimal(p))
        for i, (side, p) in enumerate([("sell", 900), ("buy", 10), ("sell", 900), ("buy", 10)])
    ]
    seeded.trading.submissions.submit_many(_uow(seeded, ctx, "req-x"), ctx["principal"], cmds)
    with seeded.uow() as uow:  # part-filled and filled orders count as position
        for cid, mw in (("x-0", "0.4"), ("x-1", "1")):
            was = uow.trading_orders.by_client_id(ctx["org"], cid)
            assert was is not None
            new = om.apply(was, om.FillApplied(f"t-{cid}", Decimal(mw), Decimal(50)))
            uow.trading_orders.update(replace(new, version=was.version + 1), was)
        uow.commit()
    keys = [(ctx["vpp_id"], MARKET, PRODUCT, h) for h in hours]
    keys.append((ctx["vpp_id"], MARKET, "no-such-product", hours[0]))
    with seeded.uow(readonly=True) as uow:
        together = uow.trading_orders.exposures(ctx["org"], keys)
        alone = {k: uow.trading_orders.exposure(ctx["org"], *k) for k in keys}
        one = uow.trading_orders.exposures(ctx["org"], [keys[0]])
    assert together == alone and one == {keys[0]: alone[keys[0]]}
    assert together[keys[0]].open_sell > 0 and together[keys[1]].net_filled != 0
    assert together[keys[2]] == together[keys[3]] == alone[keys[3]]  # no orders: zeros
    assert together[keys[0]] == Exposure(Decimal("-0.4"), Decimal(0), Decimal("1.6"))
    assert together[keys[1]] == Exposure(Decimal(1), Decimal(1), Decimal(0))
    with seeded.uow(readonly=True) as uow:
        kept = uow.trading_orders.kept_exposures(ctx["org"])
        assert kept == uow.trading_orders.summed_exposures(ctx["org"]) and len(kept) == 2


def test_orders_found_by_client_ids_in_one_query_equal_each_alone(
    seeded: Runtime, trading: dict[str, Any], clock: ShiftClock
) -> None:
    ctx = trading
    hour = open_hour(clock.now(), 3)
    cmds = [_cmd(ctx, clock, f"c-{i}", delivery_start=hour) for i in range(3)]
    seeded.trading.submissions.submit_many(_uow(seeded, ctx, "req-c"), ctx["principal"], cmds)
    wanted = ["c-0", "c-2", "c-9"]  # c-9 was never placed
    with seeded.uow(readonly=True) as uow:
        together = uow.trading_orders.by_client_ids(ctx["org"], wanted)
        alone = {c: uow.trading_orders.by_client_id(ctx["org"], c) for c in wanted}
        elsewhere = uow.trading_orders.by_client_ids("another-org", wanted)
    assert together == {c: o for c, o in alone.items() if o is not None}
    assert sorted(together) == ["c-0", "c-2"] and elsewhere == {}


def test_a_resolved_submission_lets_go_of_its_future() -> None:
    """An item and its future referring to each other would be a reference cycle, freed only by
    the collector's full passes: under load these were the order latency tail."""

    async def main() -> None:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        item = batching._Item(cast(Any, None), cast(Any, None), cast(Any, None), future=future)
        batching._resolve([item])
        assert future.result() is item
        assert item.future is None

    asyncio.run(main())
