"""Trading sessions: the delivery intervals of a market's local day with their gate opening
and closure, the session state, and the organization's orders in each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from openvpp.markets.calendar import delivery_intervals, gate_closure, gate_opening
from openvpp.ports import UnitOfWork
from openvpp.trading.service import market_product

__all__ = ["Session", "sessions_of_day"]


@dataclass(frozen=True, slots=True)
class Session:
    """``state``: ``upcoming`` (before the gate opens), ``open``, ``closed`` (gate closed, the
    organization's orders not all final yet, or none placed) or ``cleared`` (gate closed and
    every order of the organization final: matched, expired, cancelled or rejected)."""

    delivery_start: datetime
    delivery_end: datetime
    gate_opening: datetime | None
    gate_closure: datetime
    state: str
    orders: int
    open_orders: int


def sessions_of_day(
    uow: UnitOfWork, organization_id: str, market: str, product: str, day: date, now: datetime
) -> tuple[str, list[Session]]:
    """The market's time zone and the sessions of its local ``day`` [UTC times]."""
    m, p = market_product(market, product)
    intervals = delivery_intervals(p, day)
    with uow:
        counts = uow.trading_orders.sessions(
            organization_id, market, product, [i.start_utc for i in intervals]
        )
    out = []
    for i in intervals:
        opening, closure = gate_opening(p, i.start_utc), gate_closure(p, i.start_utc)
        orders, open_orders = counts.get(i.start_utc, (0, 0))
        if opening is not None and now < opening:
            state = "upcoming"
        elif now < closure:
            state = "open"
        else:
            state = "cleared" if orders and not open_orders else "closed"
        out.append(Session(i.start_utc, i.end_utc, opening, closure, state, orders, open_orders))
    return m.time_zone, out
