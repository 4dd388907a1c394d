"""What order submissions read inside one writing unit of work, read once per transaction.

A batch of submissions (``trading/batching.py``) places many orders in one transaction, most
of them for the same VPP and market. Each needs the VPP, its connections, the trading modes
(under lock), the limits, the exposure of its delivery interval and the recent order counts.
This view reads each of them once and then keeps exposure and order counts current as the
orders of the transaction are placed, so that every decision sees exactly what a fresh read
would (the transaction holds the trading-state locks, so nobody else changes them
meanwhile). A single submission uses a fresh view: the same reads as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from openvpp.markets.records import MarketConnection
from openvpp.ports import UnitOfWork
from openvpp.trading.orders import Order
from openvpp.trading.records import GLOBAL
from openvpp.trading.risk import (
    MINUTE_WINDOW,
    SECOND_WINDOW,
    Exposure,
    Interval,
    Limits,
    RecentOrders,
    TradingMode,
    effective_mode,
)

__all__ = ["SubmitView"]

_Interval = tuple[str, str, str, str, datetime]  # organization, VPP, market, product, start


class SubmitView:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._modes: dict[tuple[str, str], TradingMode] = {}
        self._vpps: dict[tuple[str, str], bool] = {}
        self._connections: dict[str, list[MarketConnection]] = {}
        self._connection: dict[tuple[str, str], MarketConnection | None] = {}
        self._limits: dict[tuple[str, str, str], Limits | None] = {}
        self._exposure: dict[_Interval, Exposure] = {}
        self._recent: dict[tuple[str, str, str, datetime], list[int]] = {}

    # --- the trading-state locks -------------------------------------------------------------
    def lock(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Lock the state rows of the (organization, VPP) ``pairs`` in one global order (by
        organization; its ``GLOBAL`` row first, then its VPPs by id), so that batches never
        deadlock. A batch locks them all before it places its first order."""
        by_org: dict[str, set[str]] = {}
        for org, vpp in pairs:
            by_org.setdefault(org, set()).add(vpp)
        for org in sorted(by_org):
            scopes = {GLOBAL: self._state(org, GLOBAL)}
            for vpp in sorted(by_org[org]):
                if (org, vpp) not in self._modes:
                    self._modes[(org, vpp)] = effective_mode(scopes[GLOBAL], self._state(org, vpp))

    def mode(self, org: str, vpp: str) -> TradingMode:
        """The effective mode of the VPP, its state rows locked (organization first)."""
        if (org, vpp) not in self._modes:
            self.lock([(org, vpp)])
        return self._modes[(org, vpp)]

    def _state(self, org: str, scope: str) -> TradingMode:
        record = self._uow.trading_control.state(org, scope, lock=True)
        return record.mode if record else TradingMode.ACTIVE

    # --- reads --------------------------------------------------------------------------------
    def vpp_exists(self, org: str, vpp: str) -> bool:
        key = (org, vpp)
        if key not in self._vpps:
            self._vpps[key] = self._uow.trading_orders.vpp_exists(org, vpp)
        return self._vpps[key]

    def connection(self, org: str, connection_id: str) -> MarketConnection | None:
        key = (org, connection_id)
        if key not in self._connection:
            self._connection[key] = self._uow.market_connections.get(org, connection_id)
        return self._connection[key]

    def connections(self, org: str) -> list[MarketConnection]:
        if org not in self._connections:
            self._connections[org] = self._uow.market_connections.of_org(org)
        return self._connections[org]

    def limits(self, org: str, vpp: str, market: str) -> Limits | None:
        key = (org, vpp, market)
        if key not in self._limits:
            self._limits[key] = self._uow.trading_control.limits(org, vpp, market)
        return self._limits[key]

    def exposure(self, org: str, vpp: str, market: str, product: str, start: datetime) -> Exposure:
        key = (org, vpp, market, product, start)
        if key not in self._exposure:
            self._exposure[key] = self._uow.trading_orders.exposure(
                org, vpp, market, product, start
            )
        return self._exposure[key]

    def prefetch_exposure(self, intervals: Iterable[_Interval]) -> None:
        """Read the exposure of ``intervals`` not read yet, one query per organization (a
        batch reads all its intervals at once instead of one query each)."""
        by_org: dict[str, set[Interval]] = {}
        for org, vpp, market, product, start in intervals:
            if (org, vpp, market, product, start) not in self._exposure:
                by_org.setdefault(org, set()).add((vpp, market, product, start))
        for org, wanted in by_org.items():
            for (vpp, market, product, start), found in self._uow.trading_orders.exposures(
                org, wanted
            ).items():
                self._exposure[(org, vpp, market, product, start)] = found

    def recent_orders(self, org: str, vpp: str, market: str, now: datetime) -> RecentOrders:
        key = (org, vpp, market, now)
        if key not in self._recent:
            found = self._uow.trading_orders.recent_orders(org, vpp, market, now)
            self._recent[key] = [found.last_second, found.last_minute]
        second, minute = self._recent[key]
        return RecentOrders(second, minute)

    # --- kept current -------------------------------------------------------------------------
    def placed(self, order: Order) -> None:
        """``order`` was inserted in this transaction: count it where a fresh read would."""
        if order.risk_rule is None:  # accepted: in the windows it was created within
            for (org, vpp, market, now), counts in self._recent.items():
                if (org, vpp, market) == (order.organization_id, order.vpp_id, order.market):
                    counts[0] += order.created_at >= now - SECOND_WINDOW
                    counts[1] += order.created_at >= now - MINUTE_WINDOW
        interval = (
            order.organization_id,
            order.vpp_id,
            order.market,
            order.product,
            order.delivery_start,
        )
        found = self._exposure.get(interval)
        if found is not None:
            self._exposure[interval] = found + Exposure.of(order)
