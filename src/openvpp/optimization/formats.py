"""Bid curves in a market's order format: limit orders per step (EU SDAC/SIDC, US ISO and any
venue of the simulated exchange) and hourly ISO offer curves of at most ``N`` monotone
segments. Block orders are in :mod:`openvpp.optimization.block_bids`, the Chinese 24/96-point
declaration in :mod:`openvpp.optimization.china`.

All formats go through :func:`openvpp.optimization.ladders.ladders` (ticks, lots, segment
count, minimum volume; rounding rules there) and are checked against the market's rules; a
violation raises ``ValueError`` naming the field.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from openvpp.markets.calendar import DeliveryInterval, delivery_intervals
from openvpp.markets.connectors.protocol import OrderRequest, OrderSide
from openvpp.markets.exchange.rules import max_order_volume_mw
from openvpp.markets.model import Direction, Market, PriceBasis, Product
from openvpp.optimization.bids import BidCurveSet
from openvpp.optimization.ladders import (
    IntervalLadder,
    MarketGrid,
    default_max_segments,
    ladders,
)

__all__ = [
    "OfferCurve",
    "client_order_id",
    "iso_offer_curves",
    "limit_orders",
    "product_intervals",
    "resolve_product",
    "traded_sides",
    "validate_offer_curves",
    "validate_orders",
]

_SLUG = re.compile(r"[^A-Za-z0-9_]")


def client_order_id(
    decision_id: str,
    market: str,
    product: str,
    delivery_start: datetime,
    side: OrderSide,
    step: int,
) -> str:
    """Deterministic client order id (at most 47 characters) of one order of a decision.

    ``<decision slug, 20>-<hash of decision, market, product, 10>-<UTC start>-<S|B><step>``:
    the same decision resubmitted gives the same ids, so the venue treats it as idempotent.
    """
    if not decision_id:
        raise ValueError("decision_id: must not be empty")
    if not 0 <= step < 1000:
        raise ValueError(f"step: must be in 0..999, got {step}")
    slug = _SLUG.sub("", decision_id)[:20] or "d"
    digest = hashlib.sha256(f"{decision_id}\x1f{market}\x1f{product}".encode()).hexdigest()[:10]
    if delivery_start.utcoffset() is None:
        raise ValueError("delivery_start: must carry a UTC offset")
    stamp = delivery_start.astimezone(UTC).strftime("%Y%m%d%H%M")
    return f"{slug}-{digest}-{stamp}-{'S' if side is OrderSide.SELL else 'B'}{step:03d}"


def resolve_product(market: Market, product: str) -> Product:
    """``market``'s energy product ``product``; ``ValueError`` naming ``market`` (capacity
    prices) or ``product`` (unknown, symmetric capacity)."""
    if market.price_basis is not PriceBasis.ENERGY:
        raise ValueError(
            f"market: {market.code} prices capacity [currency/MW]; energy bid curves do not apply"
        )
    try:
        prod = market.product(product)
    except KeyError as exc:
        raise ValueError(f"product: {exc.args[0]}") from None
    if prod.direction is Direction.SYMMETRIC:
        raise ValueError(f"product: {product} is a symmetric capacity product")
    return prod


def product_intervals(
    curves: BidCurveSet, market: Market, product: str, day: date
) -> tuple[Product, list[DeliveryInterval]]:
    """The product and its delivery intervals of the local ``day`` (92/96/100 quarter-hours
    on clock-change days); ``ValueError`` naming ``product`` or ``curves`` if they do not fit."""
    prod = resolve_product(market, product)
    intervals = delivery_intervals(prod, day)
    if len(curves) != len(intervals):
        raise ValueError(
            f"curves: {len(curves)} intervals, but {market.code}/{product} has "
            f"{len(intervals)} on {day}"
        )
    return prod, intervals


def traded_sides(prod: Product) -> tuple[bool, bool]:
    """``(sells, buys)`` a product trades: ``up`` sells only (injection, load reduction),
    ``down`` buys only (load increase); formats leave the other side's volume out."""
    return prod.direction in (Direction.BOTH, Direction.UP), prod.direction in (
        Direction.BOTH,
        Direction.DOWN,
    )


def _sides(
    prod: Product, ladder: IntervalLadder
) -> list[tuple[OrderSide, tuple[tuple[int, int], ...]]]:
    sells, buys = traded_sides(prod)
    out = []
    if sells:
        out.append((OrderSide.SELL, ladder.sell))
    if buys:
        out.append((OrderSide.BUY, ladder.buy))
    return out


def limit_orders(
    curves: BidCurveSet,
    market: Market,
    product: str,
    day: date,
    decision_id: str,
    *,
    max_segments: int | None = None,
) -> list[OrderRequest]:
    """One limit order per curve segment, per delivery interval of the local ``day``.

    Sell orders of an interval come first, price ascending, then its buy orders, price
    descending; client order ids from :func:`client_order_id`. Prices [currency/MWh] and
    quantities [MW] are exact ``Decimal`` on the market's ticks within its limits.
    """
    prod, intervals = product_intervals(curves, market, product, day)
    g = MarketGrid.of(market)
    orders = []
    for iv, ladder in zip(
        intervals, ladders(curves, market, max_segments=max_segments), strict=True
    ):
        for side, rungs in _sides(prod, ladder):
            for step, (ticks, lots) in enumerate(rungs):
                orders.append(
                    OrderRequest(
                        client_order_id=client_order_id(
                            decision_id, market.code, product, iv.start_utc, side, step
                        ),
                        market=market.code,
                        product=product,
                        delivery_start=iv.start_utc,
                        side=side,
                        price=g.price(ticks),
                        quantity_mw=g.volume(lots),
                    )
                )
    validate_orders(orders, market, max_segments=max_segments)
    return orders


def validate_orders(
    orders: Iterable[OrderRequest], market: Market, *, max_segments: int | None = None
) -> None:
    """``ValueError`` naming the field of the first order that breaks ``market``'s rules:
    market code, product, price tick and limits, volume lots, minimum and maximum volume,
    unique client order ids, segments per (product, interval, side)."""
    n_max = default_max_segments(market) if max_segments is None else max_segments
    g = MarketGrid.of(market)
    max_mw = max_order_volume_mw(market)
    ids: set[str] = set()
    segments: Counter[tuple[str, datetime, OrderSide]] = Counter()
    for o in orders:
        if o.market != market.code:
            raise ValueError(f"market: {o.market!r} is not {market.code!r}")
        try:
            market.product(o.product)
        except KeyError as exc:
            raise ValueError(f"product: {exc.args[0]}") from None
        if o.price % g.tick or not market.price_limits.min <= o.price <= market.price_limits.max:
            raise ValueError(
                f"price: {o.price} must be a multiple of {g.tick} within "
                f"[{market.price_limits.min}, {market.price_limits.max}]"
            )
        if o.quantity_mw % g.lot or not market.min_order_volume_mw <= o.quantity_mw <= max_mw:
            raise ValueError(
                f"quantity_mw: {o.quantity_mw} must be a multiple of {g.lot} within "
                f"[{market.min_order_volume_mw}, {max_mw}]"
            )
        if o.client_order_id in ids:
            raise ValueError(f"client_order_id: {o.client_order_id!r} is repeated")
        ids.add(o.client_order_id)
        key = (o.product, o.delivery_start, o.side)
        segments[key] += 1
        if segments[key] > n_max:
            raise ValueError(
                f"segments: more than {n_max} {o.side} orders for {o.product} at "
                f"{o.delivery_start.isoformat()}"
            )


@dataclass(frozen=True, slots=True)
class OfferCurve:
    """An hourly ISO offer (``sell``) or bid (``buy``) curve.

    points : ``(cumulative MW, price [currency/MWh])`` with the MW increasing; prices increase
        for an offer and decrease for a bid (a demand curve), as ISOs require.
    """

    market: str
    product: str
    delivery_start: datetime
    side: OrderSide
    points: tuple[tuple[Decimal, Decimal], ...]


def iso_offer_curves(
    curves: BidCurveSet,
    market: Market,
    product: str,
    day: date,
    *,
    max_segments: int | None = None,
) -> list[OfferCurve]:
    """Hourly offer and bid curves of at most ``max_segments`` monotone segments (default
    :func:`default_max_segments`, 10 for the US ISO presets); ``product`` must be hourly (a
    local day of 23, 24 or 25 hours)."""
    prod, intervals = product_intervals(curves, market, product, day)
    if prod.period_min != 60:
        raise ValueError(
            f"product: ISO offer curves are hourly; {product} is {prod.period_min} min"
        )
    g = MarketGrid.of(market)
    out = []
    for iv, ladder in zip(
        intervals, ladders(curves, market, max_segments=max_segments), strict=True
    ):
        for side, rungs in _sides(prod, ladder):
            if not rungs:
                continue
            cum = 0
            points = []
            for ticks, lots in rungs:
                cum += lots
                points.append((g.volume(cum), g.price(ticks)))
            out.append(OfferCurve(market.code, product, iv.start_utc, side, tuple(points)))
    validate_offer_curves(out, market, max_segments=max_segments)
    return out


def validate_offer_curves(
    offers: Iterable[OfferCurve], market: Market, *, max_segments: int | None = None
) -> None:
    """``ValueError`` naming the field of the first offer curve that breaks ``market``'s
    rules: market, product, segments, cumulative MW (lots, increasing, each segment at least
    the minimum volume, at most the maximum), prices (tick, limits, monotone by side)."""
    n_max = default_max_segments(market) if max_segments is None else max_segments
    g = MarketGrid.of(market)
    lim = market.price_limits
    for o in offers:
        if o.market != market.code:
            raise ValueError(f"market: {o.market!r} is not {market.code!r}")
        resolve_product(market, o.product)
        if not 1 <= len(o.points) <= n_max:
            raise ValueError(f"segments: {len(o.points)} at {o.delivery_start}, 1 to {n_max}")
        prev_mw, prev_price = Decimal(0), None
        for mw, price in o.points:
            width = mw - prev_mw
            if mw % g.lot or width < market.min_order_volume_mw or width > g.volume(g.max_lots):
                raise ValueError(
                    f"quantity_mw: cumulative {mw} MW at {o.delivery_start} must rise by whole "
                    f"lots of {g.lot} MW, at least {market.min_order_volume_mw} MW per segment"
                )
            if price % g.tick or not lim.min <= price <= lim.max:
                raise ValueError(f"price: {price} off the tick {g.tick} or outside the limits")
            sign = 1 if o.side is OrderSide.SELL else -1
            if prev_price is not None and sign * (price - prev_price) <= 0:
                raise ValueError(
                    f"price: {o.side} curve at {o.delivery_start} must be strictly "
                    f"{'increasing' if sign > 0 else 'decreasing'}"
                )
            prev_mw, prev_price = mw, price
