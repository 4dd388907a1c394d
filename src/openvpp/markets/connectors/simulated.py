"""In-process connector to a :class:`~openvpp.markets.exchange.SimulatedExchange` (no network:
errors are only definitive refusals)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar

from openvpp.core.errors import AuthenticationFailed, Conflict, DomainError, NotFound
from openvpp.markets.connectors.protocol import (
    AuctionResults,
    Fill,
    FillPage,
    ImbalancePeriod,
    ImbalanceResult,
    MarketDataPoint,
    OrderKind,
    OrderRequest,
    OrderSide,
    OrderSnapshot,
    OrderState,
    PeriodPrice,
    VenueHealth,
    VenueRejectedError,
)
from openvpp.markets.exchange import (
    ExchangeOrder,
    ExecType,
    NewOrder,
    SimulatedExchange,
    TradeSide,
)
from openvpp.markets.exchange import Fill as ExchangeFill

__all__ = ["SimulatedConnector", "snapshot_of"]

T = TypeVar("T")


def snapshot_of(o: ExchangeOrder) -> OrderSnapshot:
    """The connector view of an exchange order."""
    return OrderSnapshot(
        venue_order_id=o.venue_order_id,
        client_order_id=o.client_order_id,
        market=o.market,
        product=o.product,
        delivery_start=o.delivery_start,
        side=OrderSide(o.side.value),
        order_type=OrderKind(o.order_type.value),
        price=o.price,
        quantity_mw=o.quantity_mw,
        filled_mw=o.filled_mw,
        state=OrderState(o.status.value),
        active=o.active,
        updated_at=o.updated_at,
    )


def _fill(f: ExchangeFill) -> Fill:
    return Fill(
        seq=f.seq,
        trade_id=f.trade_id,
        venue_order_id=f.venue_order_id,
        client_order_id=f.client_order_id,
        market=f.market,
        product=f.product,
        delivery_start=f.delivery_start,
        side=OrderSide(f.side.value),
        price=f.price,
        quantity_mw=f.quantity_mw,
        executed_at=f.executed_at,
    )


class SimulatedConnector:
    """Connector of the account of ``api_key`` on ``exchange``."""

    def __init__(
        self, exchange: SimulatedExchange, api_key: str, *, name: str = "simulated"
    ) -> None:
        self.name = name
        self.exchange = exchange
        try:
            self.account = exchange.account_for(api_key)
        except AuthenticationFailed:
            raise ValueError("credentials.api_key: unknown to the simulated exchange") from None

    def _do(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except DomainError as exc:
            status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
            raise VenueRejectedError(
                exc.message, venue=self.name, status=status, code=exc.code, field=exc.field
            ) from None

    async def submit_order(self, request: OrderRequest) -> OrderSnapshot:
        cmd = NewOrder(
            client_order_id=request.client_order_id,
            market=request.market,
            product=request.product,
            delivery_start=request.delivery_start,
            side=TradeSide(request.side.value),
            price=request.price,
            quantity_mw=request.quantity_mw,
            order_type=ExecType(request.order_type.value),
            clip_mw=request.clip_mw,
        )
        order, _ = self._do(lambda: self.exchange.submit(self.account, cmd))
        return snapshot_of(order)

    async def cancel_order(self, venue_order_id: str) -> OrderSnapshot:
        return snapshot_of(self._do(lambda: self.exchange.cancel(self.account, venue_order_id)))

    async def modify_order(
        self,
        venue_order_id: str,
        *,
        price: Decimal | None = None,
        quantity_mw: Decimal | None = None,
    ) -> OrderSnapshot:
        order = self._do(
            lambda: self.exchange.modify(
                self.account, venue_order_id, price=price, quantity_mw=quantity_mw
            )
        )
        return snapshot_of(order)

    async def get_order(
        self, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot | None:
        if (venue_order_id is None) == (client_order_id is None):
            raise ValueError("give exactly one of venue_order_id and client_order_id")
        try:
            if venue_order_id is not None:
                return snapshot_of(self.exchange.get_order(self.account, venue_order_id))
            return snapshot_of(self.exchange.find_order(self.account, str(client_order_id)))
        except NotFound:
            return None

    async def fetch_fills(self, after: int = 0) -> FillPage:
        page = self._do(lambda: self.exchange.fills_since(self.account, after))
        return FillPage(tuple(_fill(f) for f in page.fills), page.next_after)

    async def fetch_results(self, market: str, product: str, day: date) -> AuctionResults:
        r = self._do(lambda: self.exchange.results(market, product, day))
        periods = tuple(
            PeriodPrice(p.delivery_start, p.delivery_end, p.price, p.volume_mw) for p in r.periods
        )
        return AuctionResults(r.market, r.product, r.day, r.cleared, periods)

    async def fetch_market_data(
        self, market: str, product: str, start: datetime, end: datetime
    ) -> list[MarketDataPoint]:
        points = self._do(lambda: self.exchange.market_data(market, product, start, end))
        return [
            MarketDataPoint(
                p.market,
                p.product,
                p.delivery_start,
                p.delivery_end,
                p.price,
                p.volume_mw,
                p.source,
            )
            for p in points
        ]

    async def fetch_imbalance_prices(self, market: str, day: date) -> ImbalanceResult:
        r = self._do(lambda: self.exchange.imbalance_prices(market, day))
        periods = tuple(
            ImbalancePeriod(
                p.delivery_start,
                p.delivery_end,
                p.short_price,
                p.long_price,
                p.day_ahead_price,
                p.system_imbalance_mw,
            )
            for p in r.periods
        )
        return ImbalanceResult(r.market, r.day, r.period_min, r.scheme, r.source, periods)

    async def health(self) -> VenueHealth:
        started = time.perf_counter()
        info = self.exchange.health()
        venue_time = datetime.fromisoformat(str(info["time"]))
        return VenueHealth(True, venue_time, time.perf_counter() - started)

    async def aclose(self) -> None:
        return None
