"""State and queries of the simulated exchange (the commands are in
:mod:`openvpp.markets.exchange.core`). Every public method takes the one lock."""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal

from openvpp.core.clock import Clock
from openvpp.core.errors import AuthenticationFailed, NotFound, ValidationFailed
from openvpp.markets.calendar import as_utc
from openvpp.markets.clearing.auction import PriceRule
from openvpp.markets.exchange.clearing import AuctionOrder
from openvpp.markets.exchange.imbalance_mode import ImbalanceConfig, RealTimeSource
from openvpp.markets.exchange.model import (
    AuctionResult,
    ExchangeOrder,
    Fill,
    FillPage,
    MarketDataPoint,
)
from openvpp.markets.exchange.replay_mode import ReplayConfig, ReplaySource
from openvpp.markets.exchange.rules import delivery_interval
from openvpp.markets.model import Market, Product, VenueKind
from openvpp.markets.orderbook import OrderBook

__all__ = ["BookKey", "DayKey", "ExchangeState"]

BookKey = tuple[str, str, datetime]
DayKey = tuple[str, str, date]


class ExchangeState:
    """Orders, books, auction days, results and fills of the venue, with the queries.

    ``replay`` and ``imbalance`` configure the venue modes (see
    :mod:`openvpp.markets.exchange.modes`); both are optional.
    """

    def __init__(
        self,
        markets: Mapping[str, Market] | Iterable[Market],
        clock: Clock,
        *,
        api_keys: Mapping[str, str] | None = None,
        price_rule: PriceRule = PriceRule.SUPPLY_MARGINAL,
        replay: ReplayConfig | None = None,
        imbalance: ImbalanceConfig | None = None,
    ) -> None:
        items = markets.values() if isinstance(markets, Mapping) else markets
        self.markets: dict[str, Market] = {m.code: m for m in items}
        self.clock = clock
        self.price_rule = PriceRule(price_rule)
        self._api_keys = dict({"test-key": "test"} if api_keys is None else api_keys)
        self._lock = threading.RLock()
        self._orders: dict[str, ExchangeOrder] = {}
        self._bodies: dict[str, tuple[object, ...]] = {}
        self._by_client: dict[tuple[str, str], str] = {}
        self._books: dict[BookKey, OrderBook] = {}
        self._day_orders: dict[DayKey, list[str]] = {}
        self._auction_units: dict[str, AuctionOrder] = {}
        self._results: dict[DayKey, AuctionResult] = {}
        self._trades: dict[BookKey, list[tuple[Decimal, Decimal, datetime]]] = {}
        self._fills: dict[str, tuple[list[int], list[Fill]]] = {}
        self._seq = 0
        self._next_order = 0
        self._next_trade = 0
        self._replay: dict[tuple[str, str], ReplaySource] = {}
        self._real_time: dict[str, RealTimeSource] = {}
        self.imbalance_config = imbalance or ImbalanceConfig()
        self._replay_failures: set[DayKey] = set()
        self._init_modes(replay, self.imbalance_config)

    def _init_modes(self, replay: ReplayConfig | None, imbalance: ImbalanceConfig) -> None:
        """Hook of :class:`~openvpp.markets.exchange.modes.ExchangeModes`: take the replay
        histories and real-time prices of the configuration."""

    # ------------------------------------------------------------------ accounts and lookups

    def account_for(self, api_key: str | None) -> str:
        """The account of ``api_key``; ``AuthenticationFailed`` if unknown."""
        account = self._api_keys.get(api_key or "")
        if account is None:
            raise AuthenticationFailed("missing or unknown API key", field="api_key")
        return account

    def add_account(self, api_key: str, account: str) -> None:
        """Admit ``api_key`` as ``account`` (idempotent; a key keeps its first account)."""
        if not api_key or not account:
            raise ValidationFailed("api_key and account must not be empty", field="api_key")
        with self._lock:
            self._api_keys.setdefault(api_key, account)

    def _market_product(self, market: str, product: str) -> tuple[Market, Product]:
        m = self.markets.get(market)
        if m is None:
            raise ValidationFailed(
                f"unknown market {market!r}; known: {sorted(self.markets)}", field="market"
            )
        try:
            return m, m.product(product)
        except KeyError as exc:
            raise ValidationFailed(str(exc.args[0]), field="product") from None

    def _own(self, account: str, venue_order_id: str) -> ExchangeOrder:
        order = self._orders.get(venue_order_id)
        if order is None or order.account != account:
            raise NotFound(f"no order {venue_order_id!r}", field="venue_order_id")
        return order

    # ------------------------------------------------------------------ queries

    def get_order(self, account: str, venue_order_id: str) -> ExchangeOrder:
        """The order ``venue_order_id`` of ``account``; ``NotFound`` otherwise."""
        with self._lock:
            return self._own(account, venue_order_id)

    def find_order(self, account: str, client_order_id: str) -> ExchangeOrder:
        """The order with ``client_order_id`` of ``account``; ``NotFound`` otherwise."""
        with self._lock:
            vid = self._by_client.get((account, client_order_id))
            if vid is None:
                raise NotFound(
                    f"no order with client_order_id {client_order_id!r}", field="client_order_id"
                )
            return self._orders[vid]

    def orders(self, account: str | None = None) -> list[ExchangeOrder]:
        """All orders (of ``account`` if given), in submission order."""
        with self._lock:
            return [o for o in self._orders.values() if account is None or o.account == account]

    def fills_since(self, account: str, after: int = 0, limit: int = 1000) -> FillPage:
        """Fills of ``account`` with ``seq > after``, at most ``limit``, in ``seq`` order."""
        if limit < 1:
            raise ValidationFailed("limit must be at least 1", field="limit")
        with self._lock:
            seqs, fills = self._fills.get(account, ([], []))
            i = bisect_right(seqs, after)
            page = tuple(fills[i : i + limit])
            return FillPage(page, page[-1].seq if page else max(after, 0))

    def results(self, market: str, product: str, day: date) -> AuctionResult:
        """The auction result of the local delivery ``day`` (``cleared`` False before the run)."""
        with self._lock:
            m, p = self._market_product(market, product)
            found = self._results.get((m.code, p.code, day))
            return found or AuctionResult(m.code, p.code, day, False, None, ())

    def market_data(
        self, market: str, product: str, start: datetime, end: datetime
    ) -> list[MarketDataPoint]:
        """Prices of delivery intervals starting in ``[start, end)`` [UTC]: clearing prices of
        cleared auctions, or the last trade price and traded volume of continuous books."""
        lo, hi = as_utc(start, "start"), as_utc(end, "end")
        with self._lock:
            m, p = self._market_product(market, product)
            out: list[MarketDataPoint] = []
            if m.venue is VenueKind.CONTINUOUS:
                for (mc, pc, s), trades in sorted(self._trades.items()):
                    if (mc, pc) == (m.code, p.code) and lo <= s < hi and trades:
                        _, _, iv = delivery_interval(p, s)
                        volume = sum((q for _, q, _ in trades), Decimal(0))
                        out.append(
                            MarketDataPoint(
                                m.code, p.code, s, iv.end_utc, trades[-1][0], volume, "continuous"
                            )
                        )
                return out
            for (mc, pc, _), result in sorted(self._results.items()):
                if (mc, pc) != (m.code, p.code):
                    continue
                out.extend(
                    MarketDataPoint(
                        m.code,
                        p.code,
                        r.delivery_start,
                        r.delivery_end,
                        r.price,
                        r.volume_mw,
                        "auction",
                    )
                    for r in result.periods
                    if lo <= r.delivery_start < hi
                )
            return out

    def health(self) -> dict[str, object]:
        """Liveness summary: venue time [UTC], markets, counts."""
        with self._lock:
            return {
                "status": "ok",
                "time": as_utc(self.clock.now(), "clock").isoformat(),
                "markets": sorted(self.markets),
                "orders": len(self._orders),
                "fills": self._seq,
            }
