"""The exposure rows (one per VPP, market, product and delivery interval) stay what the orders
add up to, whatever the orders go through: placements, acknowledgements, partial fills,
modifications, cancellations, expiries, reconciliation, transactions rolled back, and the
migration that sums the orders there were into the first rows."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from openvpp.runtime import Runtime
from openvpp.store import tables as t
from openvpp.store.migrate import downgrade, upgrade
from openvpp.trading import orders as om
from openvpp.trading.orders import Order, State
from openvpp.trading.risk import Exposure

T0 = datetime(2026, 12, 7, 12, tzinfo=UTC)
STARTS = [T0 + timedelta(hours=h) for h in (3, 4)]
VPPS = ["vpp-a", "vpp-b"]
LOT = Decimal("0.1")
QUANTITIES = st.integers(1, 30).map(lambda n: n * LOT)


def _org(rt: Runtime) -> str:
    with rt.engine.connect() as conn:
        return str(conn.execute(sa.select(t.organizations.c.id)).scalars().first())


def _new(org: str, n: int, vpp: str, start: datetime, side: str, quantity: Decimal) -> Order:
    return Order(
        id=f"o-{n:05d}",
        organization_id=org,
        vpp_id=vpp,
        connection_id="c",
        client_order_id=f"cid-{n}",
        market="EU-SIDC",
        product="H",
        delivery_start=start,
        side=side,
        order_type="limit",
        price=Decimal(50),
        quantity=quantity,
        state=State.CREATED,
        body_hash="h",
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

    def _write(self, uow: object, data: st.DataObject, ids: list[str]) -> dict[str, Order]:
        written: dict[str, Order] = {}
        for order_id in ids:
            was = written.get(order_id, self.orders[order_id])
            new = self._changed(was, data.draw(EVENTS))
            if new is not None:
                uow.trading_orders.update(new, was)  # type: ignore[attr-defined]
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


def test_the_migration_sums_existing_orders_into_exposure_rows(seeded: Runtime) -> None:
    org = _org(seeded)
    orders = [
        _new(org, 1, "vpp-a", STARTS[0], "buy", Decimal("1.5")),
        _new(org, 2, "vpp-a", STARTS[0], "sell", Decimal("0.3")),
        _new(org, 3, "vpp-a", STARTS[1], "sell", Decimal(2)),
        _new(org, 4, "vpp-b", STARTS[0], "buy", Decimal(1)),
    ]
    part = om.apply(orders[0], om.FillApplied("t1", Decimal("0.4"), Decimal(40)))
    orders[0] = part
    orders[3] = replace(orders[3], state=State.CANCELLED)
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
