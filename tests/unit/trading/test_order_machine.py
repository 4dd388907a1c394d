"""The order state machine under arbitrary event sequences (RELIABILITY item 2): submit, ack,
reject, partial fills, cancel, timeout, expiry, reconciliation, duplicate and out-of-order
events, and restarts through the stored row."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from openvpp.store.trading_repositories import _order, _order_row
from openvpp.trading import orders as om
from openvpp.trading.orders import FINAL, Order, State
from tests.support import an_order

LOT = Decimal("0.1")
EVIDENCE = (
    om.VenueReject,
    om.FillApplied,
    om.CancelConfirmed,
    om.Expired,
    om.Reconciled,
)


def new_order(quantity: Decimal = Decimal(2)) -> Order:
    return an_order(quantity=quantity)


class OrderMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.order = new_order()
        self.fills: dict[str, Decimal] = {}  # the store: one row per trade id
        self.history: list[om.Event] = []
        self.first_final: State | None = None
        self.last_filled = Decimal(0)

    def _apply(self, event: om.Event) -> None:
        before = self.order
        if isinstance(event, om.FillApplied) and event.trade_id in self.fills:
            return  # the unique key refuses the second row
        try:
            after = om.apply(before, event)
        except om.InvalidTransition:
            return
        if isinstance(event, om.FillApplied):
            self.fills[event.trade_id] = event.quantity
        if before.state is State.UNKNOWN and after.state in FINAL:
            assert isinstance(event, EVIDENCE), event
            if isinstance(event, om.Expired):
                assert event.venue_evidence
        self.order = after
        self.history.append(event)

    @rule(passed=st.booleans())
    def risk(self, passed: bool) -> None:
        self._apply(om.RiskPassed() if passed else om.RiskFailed("max_order_mw", "too big"))

    @rule()
    def sent(self) -> None:
        self._apply(om.Sent())

    @rule()
    def not_sent(self) -> None:
        self._apply(om.NotSent("503 before processing"))

    @rule()
    def timeout(self) -> None:
        self._apply(om.Ambiguous("read timeout"))

    @rule()
    def ack(self) -> None:
        self._apply(om.VenueAck("V1"))

    @rule()
    def reject(self) -> None:
        self._apply(om.VenueReject("gate closed"))

    @rule(trade=st.integers(0, 12), lots=st.integers(1, 8), price=st.integers(40, 60))
    def fill(self, trade: int, lots: int, price: int) -> None:
        self._apply(om.FillApplied(f"T{trade}", lots * LOT, Decimal(price)))

    @rule()
    def cancel_request(self) -> None:
        self._apply(om.CancelRequested())

    @rule()
    def cancel_confirm(self) -> None:
        self._apply(om.CancelConfirmed())

    @rule(evidence=st.booleans())
    def expire(self, evidence: bool) -> None:
        self._apply(om.Expired("gate closed", venue_evidence=evidence))

    @rule(lots=st.integers(1, 40), price=st.integers(40, 60))
    def modify(self, lots: int, price: int) -> None:
        self._apply(om.Modified(Decimal(price), lots * LOT))

    @rule(
        venue_state=st.sampled_from(
            ["new", "partially_filled", "filled", "cancelled", "rejected", "expired", "unknown"]
        ),
        lots=st.integers(0, 20),
    )
    def reconcile(self, venue_state: str, lots: int) -> None:
        self._apply(
            om.Reconciled(venue_state, "V1", self.order.price, self.order.quantity, lots * LOT)
        )

    @precondition(lambda self: bool(self.history))
    @rule(data=st.data())
    def replay_old_event(self, data: st.DataObject) -> None:
        """A duplicate or late event: anything seen before, again."""
        self._apply(data.draw(st.sampled_from(self.history)))

    @rule()
    def restart(self) -> None:
        """Through the stored row and back; the applied trades come from the fills table."""
        stored = _order(_order_row(self.order))
        self.order = replace(stored, trade_ids=frozenset(self.fills))

    @invariant()
    def filled_is_the_sum_of_the_fills_within_quantity(self) -> None:
        o = self.order
        assert o.filled == sum(self.fills.values(), Decimal(0))
        assert Decimal(0) <= o.filled <= o.quantity
        assert o.filled >= self.last_filled
        self.last_filled = o.filled
        if o.filled:
            assert o.filled_value / o.filled == o.avg_price

    @invariant()
    def final_states_stay_final(self) -> None:
        if self.first_final is None and self.order.final:
            self.first_final = self.order.state
        if self.first_final is not None:
            assert self.order.state is self.first_final


TestOrderMachine = OrderMachine.TestCase
TestOrderMachine.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)


def test_a_trade_fills_once_and_never_beyond_the_quantity() -> None:
    o = om.apply(om.apply(new_order(), om.RiskPassed()), om.Sent())
    o = om.apply(o, om.FillApplied("T1", Decimal("1.5"), Decimal(50)))
    assert om.apply(o, om.FillApplied("T1", Decimal("1.5"), Decimal(50))) == o
    with pytest.raises(om.InvalidTransition):
        om.apply(o, om.FillApplied("T2", Decimal("0.6"), Decimal(50)))
    o = om.apply(o, om.FillApplied("T2", Decimal("0.5"), Decimal(52)))
    assert o.state is State.FILLED and o.avg_price == Decimal("50.5")


def test_unknown_is_resolved_only_by_the_venue() -> None:
    o = om.apply(om.apply(om.apply(new_order(), om.RiskPassed()), om.Sent()), om.Ambiguous("t"))
    assert o.state is State.UNKNOWN
    with pytest.raises(om.InvalidTransition):
        om.apply(o, om.Expired("gate closed", venue_evidence=False))
    assert om.apply(o, om.Reconciled("new", "V9", o.price, o.quantity, Decimal(0))).state is (
        State.ACKNOWLEDGED
    )
    assert om.apply(o, om.Reconciled("cancelled", "V9", o.price, o.quantity, Decimal(0))).final


def test_an_order_filled_before_its_acknowledgement_learns_its_venue_id_when_reconciled() -> None:
    """A crash between sending and recording leaves the order ``sent``; at the restart another
    order's answer reads the fills feed, which fills this one before it is reconciled. The
    reconciliation must still give it its venue order id (a clean run has one)."""
    o = om.apply(om.apply(new_order(), om.RiskPassed()), om.Sent())
    o = om.apply(o, om.FillApplied("T1", o.quantity, Decimal(50)))
    assert o.state is State.FILLED and o.venue_order_id is None
    done = om.apply(o, om.Reconciled("filled", "V7", o.price, o.quantity, o.quantity))
    assert done == replace(o, venue_order_id="V7")
    assert om.apply(done, om.Reconciled("filled", "V8", o.price, o.quantity, o.quantity)) == done
