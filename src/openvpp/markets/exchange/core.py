"""The simulated exchange: accounts, order entry with idempotent client order ids, continuous
order books, day auctions, fills feed, results and market data (in memory, thread-safe).

Continuous products (:attr:`VenueKind.CONTINUOUS`) get one
:class:`~openvpp.markets.orderbook.OrderBook` per (market, product, delivery start) and match at
once. Auction products collect orders per (market, product, local delivery day) until
:meth:`SimulatedExchange.run_auction` (or :meth:`SimulatedExchange.tick` after gate closure)
clears the day; auction products with a replay history are cleared against it instead
(:mod:`openvpp.markets.exchange.modes`). Every public method takes the one lock, so HTTP
handlers, a service loop and tests may call it concurrently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from openvpp.core.errors import Conflict, ValidationFailed
from openvpp.markets.calendar import as_utc, delivery_intervals, gate_closure
from openvpp.markets.clearing.auction import MAX_TOTAL_LOTS
from openvpp.markets.exchange.clearing import AuctionOrder
from openvpp.markets.exchange.model import (
    AuctionResult,
    ExchangeOrder,
    ExchangeStatus,
    ExecType,
    Fill,
    NewOrder,
    TradeSide,
)
from openvpp.markets.exchange.modes import ExchangeModes
from openvpp.markets.exchange.rules import (
    check_day,
    check_gate,
    delivery_interval,
    price_ticks,
    to_units,
    volume_lots,
)
from openvpp.markets.exchange.state import BookKey, DayKey
from openvpp.markets.model import Market, Product, VenueKind
from openvpp.markets.orderbook import Order, OrderBook, OrderBookError, OrderType, Side, Trade

__all__ = ["SimulatedExchange"]

log = logging.getLogger(__name__)

_STATUS = {s.value: ExchangeStatus(s.value) for s in ExchangeStatus}
_BOOK_TYPE = {e: OrderType(e.value) for e in ExecType}
_MAX_CLIENT_ID = 64


class SimulatedExchange(ExchangeModes):
    """An in-memory venue for ``markets`` (by code), timed by ``clock``.

    ``api_keys`` maps API keys to account names (default ``{"test-key": "test"}``; ``{}``
    admits none until :meth:`add_account`). ``price_rule`` picks the clearing price of
    pay-as-clear auctions. ``replay`` (:class:`~openvpp.markets.exchange.ReplayConfig`) clears
    auction products against price history, ``imbalance``
    (:class:`~openvpp.markets.exchange.ImbalanceConfig`) sets the published imbalance prices.
    """

    # ------------------------------------------------------------------ commands

    def submit(self, account: str, cmd: NewOrder) -> tuple[ExchangeOrder, bool]:
        """Enter an order; returns the order and whether it was created now.

        A repeated ``client_order_id`` with the same body returns the existing order
        (``created`` False); with a different body ``Conflict``. Invalid values and closed
        gates raise ``ValidationFailed`` naming the field; nothing is recorded then.
        """
        with self._lock:
            existing = self._by_client.get((account, cmd.client_order_id))
            if existing is not None:
                if self._bodies[existing] != cmd.body_key():
                    raise Conflict(
                        f"client_order_id {cmd.client_order_id!r} was already used for a "
                        f"different order ({existing})",
                        field="client_order_id",
                    )
                return self._orders[existing], False
            return self._create(account, cmd), True

    def _create(self, account: str, cmd: NewOrder) -> ExchangeOrder:
        if not 0 < len(cmd.client_order_id) <= _MAX_CLIENT_ID:
            raise ValidationFailed(
                "client_order_id must have 1 to 64 characters", field="client_order_id"
            )
        market, product = self._market_product(cmd.market, cmd.product)
        day, period, interval = delivery_interval(product, cmd.delivery_start)
        now = as_utc(self.clock.now(), "clock")
        check_gate(product, interval.start_utc, now, "submit")
        ticks = price_ticks(market, cmd.price)
        lots = volume_lots(market, cmd.quantity_mw)
        clip = None
        if cmd.clip_mw is not None:
            clip = to_units(cmd.clip_mw, market.volume_tick_mw, "clip_mw")
        continuous = market.venue is VenueKind.CONTINUOUS
        if not continuous and cmd.order_type is not ExecType.LIMIT:
            raise ValidationFailed(
                f"order_type {cmd.order_type.value} is not available in auctions",
                field="order_type",
            )
        day_key = (market.code, product.code, day)
        if not continuous and day_key in self._results:
            raise ValidationFailed(
                f"the auction for {day} is already cleared", field="delivery_start"
            )
        if not continuous:
            self._check_day_total(day_key, cmd.side, lots)
        self._next_order += 1
        vid = f"V{self._next_order:08d}"
        order = ExchangeOrder(
            venue_order_id=vid,
            account=account,
            client_order_id=cmd.client_order_id,
            market=market.code,
            product=product.code,
            delivery_start=interval.start_utc,
            delivery_end=interval.end_utc,
            side=cmd.side,
            order_type=cmd.order_type,
            price=cmd.price,
            quantity_mw=cmd.quantity_mw,
            clip_mw=cmd.clip_mw,
            filled_mw=Decimal(0),
            status=ExchangeStatus.NEW,
            active=True,
            created_at=now,
            updated_at=now,
        )
        if continuous:
            book = self._book(market, product, interval.start_utc)
            side = Side.BUY if cmd.side is TradeSide.BUY else Side.SELL
            try:
                result = book.submit(
                    Order(vid, side, ticks, lots, _BOOK_TYPE[cmd.order_type], clip)
                )
            except OrderBookError as exc:
                raise ValidationFailed(str(exc), field="order") from None
            self._register(order, cmd)
            self._apply(
                market,
                book,
                (market.code, product.code, interval.start_utc),
                result.trades,
                [vid],
                now,
            )
        else:
            self._register(order, cmd)
            self._day_orders.setdefault(day_key, []).append(vid)
            self._auction_units[vid] = AuctionOrder(vid, period, cmd.side, ticks, lots)
        return self._orders[vid]

    def _check_day_total(
        self, day_key: DayKey, side: TradeSide, lots: int, without: str | None = None
    ) -> None:
        """``ValidationFailed`` naming ``quantity_mw`` when ``lots`` more on ``side`` would take
        the day's active orders of that side above the clearing's ``MAX_TOTAL_LOTS``
        (``without``: an order whose current lots are replaced)."""
        total = lots
        for vid in self._day_orders.get(day_key, ()):
            unit = self._auction_units[vid]
            if vid != without and unit.side is side and self._orders[vid].active:
                total += unit.lots
        if total > MAX_TOTAL_LOTS:
            market, product, day = day_key
            raise ValidationFailed(
                f"quantity_mw would take the total {side.value} volume of the {market}/{product} "
                f"auction of {day} above {MAX_TOTAL_LOTS} lots",
                field="quantity_mw",
            )

    def _register(self, order: ExchangeOrder, cmd: NewOrder) -> None:
        self._orders[order.venue_order_id] = order
        self._bodies[order.venue_order_id] = cmd.body_key()
        self._by_client[(order.account, order.client_order_id)] = order.venue_order_id

    def _book(self, market: Market, product: Product, start: datetime) -> OrderBook:
        key = (market.code, product.code, start)
        book = self._books.get(key)
        if book is None:
            limits = market.price_limits
            book = OrderBook(
                product_id=f"{market.code}/{product.code}/{start.isoformat()}",
                price_min=to_units(limits.min, market.price_tick, "price_limits.min"),
                price_max=to_units(limits.max, market.price_tick, "price_limits.max"),
                tick=1,
            )
            self._books[key] = book
        return book

    def _apply(
        self,
        market: Market,
        book: OrderBook,
        key: BookKey,
        trades: Iterable[Trade],
        touched: list[str],
        now: datetime,
    ) -> None:
        """Record trades as fills and refresh the touched orders from the book."""
        ids = list(touched)
        for t in trades:
            self._next_trade += 1
            price = Decimal(t.price) * market.price_tick
            qty = Decimal(t.quantity) * market.volume_tick_mw
            self._trades.setdefault(key, []).append((price, qty, now))
            for vid, suffix in ((t.buy_order_id, "B"), (t.sell_order_id, "S")):
                self._emit_fill(
                    self._orders[vid], f"T{self._next_trade:08d}-{suffix}", price, qty, now
                )
                ids.append(vid)
        vol = market.volume_tick_mw
        for vid in dict.fromkeys(ids):
            info = book.order(vid)
            self._orders[vid] = replace(
                self._orders[vid],
                filled_mw=Decimal(info.filled_quantity) * vol,
                status=_STATUS[info.status.value],
                active=info.resting_quantity > 0,
                updated_at=now,
            )

    def _emit_fill(
        self, order: ExchangeOrder, trade_id: str, price: Decimal, qty: Decimal, now: datetime
    ) -> None:
        self._seq += 1
        fill = Fill(
            seq=self._seq,
            trade_id=trade_id,
            account=order.account,
            venue_order_id=order.venue_order_id,
            client_order_id=order.client_order_id,
            market=order.market,
            product=order.product,
            delivery_start=order.delivery_start,
            side=order.side,
            price=price,
            quantity_mw=qty,
            executed_at=now,
        )
        seqs, fills = self._fills.setdefault(order.account, ([], []))
        seqs.append(fill.seq)
        fills.append(fill)

    def cancel(self, account: str, venue_order_id: str) -> ExchangeOrder:
        """Cancel the rest of an active order before its gate closes."""
        with self._lock:
            order, market, now = self._modifiable(account, venue_order_id, "cancel")
            if market.venue is VenueKind.CONTINUOUS:
                book = self._books[(order.market, order.product, order.delivery_start)]
                book.cancel(venue_order_id)
                key = (order.market, order.product, order.delivery_start)
                self._apply(market, book, key, (), [venue_order_id], now)
            else:
                self._orders[venue_order_id] = replace(
                    order, status=ExchangeStatus.CANCELLED, active=False, updated_at=now
                )
            return self._orders[venue_order_id]

    def modify(
        self,
        account: str,
        venue_order_id: str,
        *,
        price: Decimal | None = None,
        quantity_mw: Decimal | None = None,
    ) -> ExchangeOrder:
        """Change price [currency/MWh] and/or total quantity [MW] of an active order (a
        continuous order loses time priority on a price change or an increase)."""
        with self._lock:
            order, market, now = self._modifiable(account, venue_order_id, "modify")
            if price is None and quantity_mw is None:
                raise ValidationFailed("modify needs price or quantity_mw", field="price")
            ticks = None if price is None else price_ticks(market, price)
            lots = None if quantity_mw is None else volume_lots(market, quantity_mw)
            if lots is not None and market.venue is not VenueKind.CONTINUOUS:
                day = self._auction_day(order)
                self._check_day_total(day, order.side, lots, without=venue_order_id)
            new = replace(
                order,
                price=order.price if price is None else price,
                quantity_mw=order.quantity_mw if quantity_mw is None else quantity_mw,
                updated_at=now,
            )
            self._orders[venue_order_id] = new
            if market.venue is VenueKind.CONTINUOUS:
                key = (order.market, order.product, order.delivery_start)
                book = self._books[key]
                try:
                    result = book.modify(venue_order_id, price=ticks, quantity=lots)
                except OrderBookError as exc:
                    self._orders[venue_order_id] = order
                    raise ValidationFailed(str(exc), field="quantity_mw") from None
                self._apply(market, book, key, result.trades, [venue_order_id], now)
            else:
                unit = self._auction_units[venue_order_id]
                self._auction_units[venue_order_id] = replace(
                    unit,
                    price=unit.price if ticks is None else ticks,
                    lots=unit.lots if lots is None else lots,
                )
            return self._orders[venue_order_id]

    def _modifiable(
        self, account: str, venue_order_id: str, action: str
    ) -> tuple[ExchangeOrder, Market, datetime]:
        order = self._own(account, venue_order_id)
        if not order.active:
            raise Conflict(
                f"cannot {action} order {venue_order_id}: it is {order.status.value}",
                field="venue_order_id",
            )
        market, product = self._market_product(order.market, order.product)
        now = as_utc(self.clock.now(), "clock")
        check_gate(product, order.delivery_start, now, action)
        return order, market, now

    # ------------------------------------------------------------------ auctions and time

    def run_auction(self, market: str, product: str, day: date) -> AuctionResult:
        """Clear the auction of the local delivery ``day`` (idempotent: a cleared day returns
        its stored result). May run before gate closure (tests, demos); later orders for the
        day are refused. With replay history for the product the day is cleared against it;
        a day the history does not cover, or that the clearing cannot compute, raises
        ``ValidationFailed`` naming ``day`` and stays open."""
        with self._lock:
            m, p = self._market_product(market, product)
            if m.venue is VenueKind.CONTINUOUS:
                raise ValidationFailed(f"{market} is a continuous market", field="market")
            check_day(day)
            key = (m.code, p.code, day)
            if key in self._results:
                return self._results[key]
            vids = [v for v in self._day_orders.get(key, []) if self._orders[v].active]
            units = [self._auction_units[v] for v in vids]
            try:
                periods, fills = self._clear_day(m, p, day, units)
            except (ValueError, OverflowError) as exc:
                raise ValidationFailed(
                    f"auction {m.code}/{p.code} of {day} cannot be cleared: {exc}", field="day"
                ) from None
            now = as_utc(self.clock.now(), "clock")
            accepted = {f.venue_order_id: f for f in fills}
            for vid in vids:
                order = self._orders[vid]
                unit = self._auction_units[vid]
                fill = accepted.get(vid)
                lots = fill.lots if fill else 0
                status = (
                    ExchangeStatus.FILLED
                    if lots == unit.lots
                    else ExchangeStatus.PARTIALLY_FILLED
                    if lots
                    else ExchangeStatus.EXPIRED
                )
                qty = Decimal(lots) * m.volume_tick_mw
                if fill is not None:
                    self._next_trade += 1
                    self._emit_fill(order, f"A{self._next_trade:08d}", fill.price, qty, now)
                self._orders[vid] = replace(
                    order, filled_mw=qty, status=status, active=False, updated_at=now
                )
            result = AuctionResult(m.code, p.code, day, True, now, periods)
            self._results[key] = result
            return result

    def _auction_day(self, order: ExchangeOrder) -> DayKey:
        _, product = self._market_product(order.market, order.product)
        day, _, _ = delivery_interval(product, order.delivery_start)
        return (order.market, order.product, day)

    def tick(self) -> list[AuctionResult]:
        """Housekeeping at the clock's time: clear auction days whose last gate has closed and
        expire continuous orders whose gate has closed. Returns the auctions cleared now.

        Each day is cleared on its own: a day that fails (no replay history, or any error) is
        logged once, stays open and is tried again on the next tick; the other days and the
        expiry of continuous orders go on."""
        with self._lock:
            now = as_utc(self.clock.now(), "clock")
            cleared = []
            for market, product, day in list(self._day_orders):
                if (market, product, day) in self._results:
                    continue
                try:
                    result = self._clear_if_closed(market, product, day, now)
                except Exception as exc:  # one day must not stop the others
                    self._log_failure((market, product, day), exc)
                else:
                    if result is not None:
                        cleared.append(result)
            self._expire_continuous(now)
            return cleared

    def _clear_if_closed(
        self, market: str, product: str, day: date, now: datetime
    ) -> AuctionResult | None:
        p = self.markets[market].product(product)
        last = delivery_intervals(p, day)[-1]
        if now < gate_closure(p, last.start_utc):
            return None
        return self.run_auction(market, product, day)

    def _log_failure(self, key: DayKey, exc: Exception) -> None:
        if key in self._replay_failures:
            return
        self._replay_failures.add(key)
        market, product, day = key
        if isinstance(exc, ValidationFailed):  # e.g. replay without history for the day
            log.warning("auction %s/%s %s not cleared: %s", market, product, day, exc.message)
        else:
            log.error(
                "auction %s/%s %s not cleared: %s: %s",
                market,
                product,
                day,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )

    def _expire_continuous(self, now: datetime) -> None:
        for (market, product, start), book in self._books.items():
            if now < gate_closure(self.markets[market].product(product), start):
                continue
            for vid, order in list(self._orders.items()):
                if order.active and (order.market, order.product, order.delivery_start) == (
                    market,
                    product,
                    start,
                ):
                    book.cancel(vid)
                    self._orders[vid] = replace(
                        order, status=ExchangeStatus.EXPIRED, active=False, updated_at=now
                    )
