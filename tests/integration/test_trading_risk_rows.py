"""The rows the risk check reads instead of the orders.

The exposure rows (one per VPP, market, product and delivery interval) stay what the orders
add up to, whatever the orders go through: placements, acknowledgements, partial fills,
modifications, cancellations, expiries, reconciliation, transactions rolled back, and the
migration that sums the orders there were into the first rows. The order counts of the rate
limits are never below the exact count of their window and above it by at most one counting
step's orders, and old steps are deleted."""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from typer.testing import CliRunner

from openvpp.cli.main import app
from openvpp.cli.trading import repair_retrying
from openvpp.ports import UnitOfWork
from openvpp.runtime import Runtime
from openvpp.seed import seed_demo
from openvpp.store import tables as t
from openvpp.store import trading_repositories as tr
from openvpp.store.migrate import downgrade, upgrade
from openvpp.trading import orders as om
from openvpp.trading.exposure_check import check_exposures
from openvpp.trading.orders import Order, State
from openvpp.trading.risk import Exposure, Interval, RecentOrders
from tests.support import an_order

T0 = datetime(2026, 12, 7, 12, tzinfo=UTC)
STARTS = [T0 + timedelta(hours=h) for h in (3, 4)]
VPPS = ["vpp-a", "vpp-b"]
LOT = Decimal("0.1")
QUANTITIES = st.integers(1, 30).map(lambda n: n * LOT)
runner = CliRunner()


def _org(rt: Runtime) -> str:
    with rt.engine.connect() as conn:
        return str(conn.execute(sa.select(t.organizations.c.id)).scalars().first())


def _new(org: str, n: int, vpp: str, start: datetime, side: str, quantity: Decimal) -> Order:
    return an_order(
        id=f"o-{n:05d}",
        organization_id=org,
        vpp_id=vpp,
        client_order_id=f"cid-{n}",
        delivery_start=start,
        side=side,
        quantity=quantity,
        created_at=T0,
        updated_at=T0,
        gate_closure=start - timedelta(minutes=5),
    )


EVENTS = st.one_of(
    st.builds(om.Sent),
    st.builds(om.VenueAck, st.just("v")),
    st.builds(om.FillApplied, st.uuids().map(str), QUANTITIES, st.just(Decimal(40))),
    st.builds(om.CancelRequested),
    st.builds(om.CancelConfirmed),
    st.builds(om.Expired, st.just("gate closed")),
    st.builds(om.VenueReject, st.just("no")),
    st.builds(om.Modified, st.just(Decimal(45)), QUANTITIES),
    st.builds(om.Ambiguous, st.just("timeout")),
    st.builds(
        om.Reconciled,
        st.sampled_from(["new", "partially_filled", "filled", "cancelled"]),
        st.just("v"),
        st.just(Decimal(50)),
        QUANTITIES,
        QUANTITIES,
    ),
)


class ExposureMachine(RuleBasedStateMachine):
    """Orders written through the repository in transactions that commit or roll back; the
    kept rows must equal the sums over the orders after each, and within a transaction the
    exposure read must already include its own writes."""

    rt: Runtime
    org: str

    def __init__(self) -> None:
        super().__init__()
        self.orders: dict[str, Order] = {}  # as committed
        self.numbers = itertools.count()
        with self.rt.engine.begin() as conn:
            conn.execute(t.trading_exposures.delete())
            conn.execute(t.trading_orders.delete())

    def _changed(self, order: Order, event: om.Event) -> Order | None:
        try:
            new = om.apply(order, event)
        except om.InvalidTransition:
            return None
        return replace(new, version=order.version + 1)

    @rule(
        new=st.lists(
            st.tuples(
                st.sampled_from(VPPS),
                st.sampled_from(STARTS),
                st.sampled_from(["buy", "sell"]),
                QUANTITIES,
                st.booleans(),
            ),
            min_size=1,
            max_size=4,
        )
    )
    def place(self, new: list[tuple[str, datetime, str, Decimal, bool]]) -> None:
        orders = []
        for vpp, start, side, quantity, passed in new:
            n = next(self.numbers)
            order = _new(self.org, n, vpp, start, side, quantity)
            event = om.RiskPassed() if passed else om.RiskFailed("max_order_mw", "too big")
            orders.append(om.apply(order, event))
        with self.rt.uow() as uow:
            uow.trading_orders.insert_many(orders)
            uow.commit()
        self.orders.update((o.id, o) for o in orders)

    @rule(data=st.data(), commit=st.booleans(), roll_back_first=st.booleans())
    def change(self, data: st.DataObject, commit: bool, roll_back_first: bool) -> None:
        if not self.orders:
            return
        ids = data.draw(st.lists(st.sampled_from(sorted(self.orders)), min_size=1, max_size=3))
        with self.rt.uow() as uow:
            if roll_back_first:  # written, then undone in the same unit of work
                self._write(uow, data, ids)
                uow.rollback()
            written = self._write(uow, data, ids)
            inside = uow.trading_orders.summed_exposures(self.org)
            keys = list(inside)
            assert uow.trading_orders.exposures(self.org, keys) == inside
            if commit:
                uow.commit()
        if commit:
            self.orders.update(written)

    def _write(self, uow: UnitOfWork, data: st.DataObject, ids: list[str]) -> dict[str, Order]:
        written: dict[str, Order] = {}
        for order_id in ids:
            was = written.get(order_id, self.orders[order_id])
            new = self._changed(was, data.draw(EVENTS))
            if new is not None:
                uow.trading_orders.update(new, was)
                written[order_id] = new
        return written

    @invariant()
    def rows_are_the_sums(self) -> None:
        with self.rt.uow(readonly=True) as uow:
            kept = uow.trading_orders.kept_exposures(self.org)
            assert kept == uow.trading_orders.summed_exposures(self.org)
            for key, e in kept.items():
                assert uow.trading_orders.exposure(self.org, *key) == e


def test_exposure_rows_stay_the_sums_of_their_orders(seeded: Runtime) -> None:
    ExposureMachine.rt = seeded
    ExposureMachine.org = _org(seeded)
    run_state_machine_as_test(
        ExposureMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_the_migrations_sum_existing_orders_into_exposure_rows_and_counts(
    seeded: Runtime,
) -> None:
    org = _org(seeded)
    now = datetime.now(UTC)  # migration 0014 counts the orders of the last two minutes
    orders = [
        _new(org, 1, "vpp-a", STARTS[0], "buy", Decimal("1.5")),
        _new(org, 2, "vpp-a", STARTS[0], "sell", Decimal("0.3")),
        _new(org, 3, "vpp-a", STARTS[1], "sell", Decimal(2)),
        _new(org, 4, "vpp-b", STARTS[0], "buy", Decimal(1)),
    ]
    part = om.apply(orders[0], om.FillApplied("t1", Decimal("0.4"), Decimal(40)))
    orders[0] = part
    orders[3] = replace(orders[3], state=State.CANCELLED)
    orders[1:3] = [replace(o, created_at=now - timedelta(seconds=30)) for o in orders[1:3]]
    with seeded.uow() as uow:
        uow.trading_orders.insert_many(orders)
        uow.commit()
        expected = uow.trading_orders.kept_exposures(org)
    assert expected[("vpp-a", "EU-SIDC", "H", STARTS[0])] == Exposure(
        Decimal("0.4"), Decimal("1.1"), Decimal("0.3")
    )
    assert ("vpp-b", "EU-SIDC", "H", STARTS[0]) not in expected  # cancelled, never filled
    engine = seeded.engine
    downgrade(engine, "0012")
    assert "trading_exposures" not in sa.inspect(engine).get_table_names()
    upgrade(engine)
    with seeded.uow(readonly=True) as uow:
        assert uow.trading_orders.kept_exposures(org) == expected
        assert uow.trading_orders.summed_exposures(org) == expected
        assert uow.trading_orders.recent_orders(org, "vpp-a", "EU-SIDC", now) == RecentOrders(0, 2)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    gaps_ms=st.lists(st.integers(0, 1_500), min_size=1, max_size=60),
    batch=st.integers(1, 5),
    refused=st.sets(st.integers(0, 59)),
    lag_ms=st.integers(0, 70_000),
)
def test_order_counts_are_their_window_counted_in_steps(
    seeded: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    gaps_ms: list[int],
    batch: int,
    refused: set[int],
    lag_ms: int,
) -> None:
    """Orders placed ``gaps_ms`` apart, ``batch`` per transaction, some refused by risk; at
    every placement and ``lag_ms`` after the last, each window's count lies between the exact
    count of its window and that of the window begun one step earlier. Pruning on every
    flush keeps no step older than twice its window."""
    monkeypatch.setattr(tr, "_PRUNE_EVERY_S", 0.0)
    org = _org(seeded)
    with seeded.engine.begin() as conn:
        conn.execute(t.trading_order_counts.delete())
        conn.execute(t.trading_orders.delete())
    at, placed = T0, []
    last: list[Order] = []  # the last batch with orders that passed risk
    for i, gap in enumerate(gaps_ms):
        at += timedelta(milliseconds=gap)
        order = replace(_new(org, i, "vpp-a", STARTS[0], "buy", LOT), created_at=at)
        if i in refused:
            order = om.apply(order, om.RiskFailed("max_order_mw", "too big"))
        placed.append(order)
        if len(placed) % batch == 0 or i == len(gaps_ms) - 1:
            new = placed[-(len(placed) % batch or batch) :]
            with seeded.uow() as uow:
                uow.trading_orders.insert_many(new)
                uow.commit()
            _check_counts(seeded, org, placed, at)
            last = [o for o in new if o.risk_rule is None] or last
    _check_counts(seeded, org, placed, at + timedelta(milliseconds=lag_ms))
    n = t.trading_order_counts
    with seeded.engine.connect() as conn:
        rows = conn.execute(sa.select(n.c.step_ms, n.c.step)).all()
    for step_ms, window_ms in ((10, 1_000), (1000, 60_000)):
        # the last flush deleted what lay two windows behind its newest step, then added its
        # own steps (which may lie further back: a batch can span more than that)
        ours = {tr._step(o.created_at, step_ms) for o in last}
        cutoff = max(ours, default=0) - 2 * window_ms // step_ms
        assert [s for ms, s in rows if ms == step_ms and s < cutoff and s not in ours] == []


def _check_counts(rt: Runtime, org: str, placed: list[Order], now: datetime) -> None:
    accepted = [o.created_at for o in placed if o.risk_rule is None]
    with rt.uow(readonly=True) as uow:
        recent = uow.trading_orders.recent_orders(org, "vpp-a", "EU-SIDC", now)
    for counted, window, step in (
        (recent.last_second, timedelta(seconds=1), timedelta(milliseconds=10)),
        (recent.last_minute, timedelta(minutes=1), timedelta(seconds=1)),
    ):
        exact = sum(a >= now - window for a in accepted)
        early = sum(a >= now - window - step for a in accepted)
        assert exact <= counted <= early, (counted, exact, early, now)


def test_order_count_windows_begin_at_the_step_of_their_start(seeded: Runtime) -> None:
    """A window counts from the step its start falls in: an order is counted until the
    window's start passes into the next step, in the transaction that places it as after."""
    org = _org(seeded)
    ms = timedelta(milliseconds=1)
    at = T0 + 5 * ms  # within the 10-ms step that begins at T0
    order = replace(_new(org, 1, "vpp-a", STARTS[0], "buy", LOT), created_at=at)
    refused = om.apply(
        replace(_new(org, 2, "vpp-a", STARTS[0], "buy", LOT), created_at=at),
        om.RiskFailed("max_order_mw", "too big"),
    )
    other_vpp = replace(_new(org, 3, "vpp-b", STARTS[0], "buy", LOT), created_at=at)
    expected = {  # now: (last second, last minute)
        at: (1, 1),
        T0 + 1009 * ms: (1, 1),  # the second began at T0 + 9 ms: the step from T0 on
        T0 + 1010 * ms: (0, 1),  # it began at T0 + 10 ms, the next step
        T0 + 60_999 * ms: (0, 1),  # the minute began within the 1-s step from T0 on
        T0 + 61_000 * ms: (0, 0),
    }

    def counts(uow: UnitOfWork, now: datetime) -> tuple[int, int]:
        found = uow.trading_orders.recent_orders(org, "vpp-a", "EU-SIDC", now)
        return found.last_second, found.last_minute

    with seeded.uow() as uow:
        uow.trading_orders.insert_many([order, refused, other_vpp])
        assert {now: counts(uow, now) for now in expected} == expected  # not written yet
        uow.commit()
    with seeded.uow(readonly=True) as uow:
        assert {now: counts(uow, now) for now in expected} == expected


def _drift_rows(rt: Runtime, org: str) -> list[Interval]:
    """Place orders over three intervals, then spoil their exposure rows the ways a bug, a
    hand edit or a partial restore would: one row changed, one deleted, one that no order
    adds up to. The spoiled intervals, sorted."""
    placed = [
        _new(org, 1, "vpp-a", STARTS[0], "buy", Decimal("1.5")),
        _new(org, 2, "vpp-a", STARTS[1], "sell", Decimal("0.7")),
        _new(org, 3, "vpp-b", STARTS[0], "buy", Decimal(2)),
    ]
    with rt.uow() as uow:
        uow.trading_orders.insert_many(placed)
        uow.commit()
    x = t.trading_exposures
    with rt.engine.begin() as conn:
        conn.execute(
            x.update()
            .where(x.c.vpp_id == "vpp-a", x.c.delivery_start == STARTS[0])
            .values(open_buy=x.c.open_buy + 3 * t.EXPOSURE_SCALE, net_filled=-7)
        )
        conn.execute(x.delete().where(x.c.vpp_id == "vpp-a", x.c.delivery_start == STARTS[1]))
        conn.execute(
            x.insert().values(
                organization_id=org,
                vpp_id="vpp-c",
                market="EU-SIDC",
                product="H",
                delivery_start=STARTS[1],
                net_filled=5 * t.EXPOSURE_SCALE,
                open_buy=0,
                open_sell=0,
            )
        )
    return [
        ("vpp-a", "EU-SIDC", "H", STARTS[0]),
        ("vpp-a", "EU-SIDC", "H", STARTS[1]),
        ("vpp-c", "EU-SIDC", "H", STARTS[1]),
    ]


def test_the_exposure_check_finds_spoiled_rows_and_the_repair_restores_them(
    seeded: Runtime,
) -> None:
    org = _org(seeded)
    spoiled = _drift_rows(seeded, org)
    found = check_exposures(seeded.uow(readonly=True, snapshot=True), org)
    assert [d.interval for d in found] == spoiled
    changed, deleted, stray = found
    assert changed.kept == Exposure(Decimal("-7E-8"), Decimal("4.5"), Decimal(0))
    assert changed.summed == Exposure(Decimal(0), Decimal("1.5"), Decimal(0))
    assert (deleted.kept, deleted.summed) == (Exposure(), Exposure(open_sell=Decimal("0.7")))
    assert (stray.kept, stray.summed) == (Exposure(net_filled=Decimal(5)), Exposure())
    audited = _audit_rows(seeded)
    assert [d.interval for d in repair_retrying(seeded, org)] == spoiled
    assert check_exposures(seeded.uow(readonly=True, snapshot=True), org) == []
    with seeded.uow(readonly=True) as uow:
        assert uow.trading_orders.kept_exposures(org) == uow.trading_orders.summed_exposures(org)
        assert uow.trading_orders.exposure(org, *spoiled[0]) == changed.summed
    assert _audit_rows(seeded) == audited + 1  # the repair, audited
    assert repair_retrying(seeded, org) == []  # nothing left: nothing written
    assert _audit_rows(seeded) == audited + 1


def _audit_rows(rt: Runtime) -> int:
    with rt.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t.audit_log)).scalar_one())


def test_repairs_while_orders_are_written_correct_the_drift_once(seeded: Runtime) -> None:
    """Two repairs at once, with orders placed and filled meanwhile: the rows end equal to
    their orders (a repair that counted a concurrent write, or both repairs adding the same
    correction, would leave them off)."""
    org = _org(seeded)
    _drift_rows(seeded, org)
    stop = threading.Event()
    failures: list[BaseException] = []

    def trade(first: int) -> None:
        try:
            for n in itertools.count(first, 2):
                if stop.is_set():
                    return
                order = _new(org, n, VPPS[n % 2], STARTS[n % 2], "buy", Decimal(1))
                with seeded.uow() as uow:
                    uow.trading_orders.insert_many([order])
                    uow.commit()
                filled = om.apply(order, om.FillApplied(f"t{n}", LOT, Decimal(40)))
                with seeded.uow() as uow:
                    uow.trading_orders.update(replace(filled, version=order.version + 1), order)
                    uow.commit()
        except BaseException as e:  # reported by the test thread
            failures.append(e)

    def repair() -> None:
        try:
            repair_retrying(seeded, org)  # a deadlock or serialization failure is retried
        except BaseException as e:  # reported by the test thread
            failures.append(e)

    traders = [threading.Thread(target=trade, args=(100 + k,)) for k in range(2)]
    for th in traders:
        th.start()
    repairs = [threading.Thread(target=repair) for _ in range(2)]
    for th in repairs:
        th.start()
    for th in repairs:
        th.join()
    stop.set()
    for th in traders:
        th.join()
    assert not failures, failures
    with seeded.uow(readonly=True, snapshot=True) as uow:
        assert uow.trading_orders.kept_exposures(org) == uow.trading_orders.summed_exposures(org)


def test_the_check_exposures_command(cli_env: Runtime) -> None:
    seed_demo(cli_env)
    org = _org(cli_env)
    _drift_rows(cli_env, org)
    checked = runner.invoke(app, ["trading", "check-exposures"])
    assert checked.exit_code == 1, checked.output
    assert "3 exposure rows differ from their orders (1 organization)" in checked.output
    assert "vpp-c" in checked.output and "net 5 / buy 0 / sell 0 MW" in checked.output
    repaired = runner.invoke(app, ["trading", "check-exposures", "--org", "demo", "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert "3 exposure rows repaired (1 organization)" in repaired.output
    clean = runner.invoke(app, ["trading", "check-exposures", "--org", org])
    assert clean.exit_code == 0, clean.output
    assert "every exposure row equals its orders" in clean.output
    unknown = runner.invoke(app, ["trading", "check-exposures", "--org", "nobody"])
    assert unknown.exit_code == 1 and "no organization" in unknown.output
