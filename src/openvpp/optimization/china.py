"""The Chinese provincial spot declaration (``cn_provincial`` presets): 96 quarter-hour points
(or 24 hourly periods) per local day in Asia/Shanghai, each with the declared quantity (the
expected schedule, the "96-point forecast"), the range the VPP can move between (upper and
lower limits) and a segmented price-quantity offer per side.

Segments follow ``docs MARKETS.md`` (China) and :mod:`openvpp.optimization.ladders`: at most
``N`` per point and side (:func:`~openvpp.optimization.ladders.default_max_segments`, 10 for
the spot markets, 5 for demand response and peak regulation: check against the province's
rules), contiguous from 0 MW, each at least the minimum order volume and on the volume tick,
prices on the price tick within the bid limits, non-decreasing with the quantity for a sell
offer and non-increasing for a buy bid (a demand curve).

Quantities keep the project's sign convention: positive = generation (injection), negative =
consumption; segments carry unsigned volumes of their side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from openvpp.markets.calendar import delivery_intervals
from openvpp.markets.model import Market
from openvpp.optimization.bids import BidCurveSet, aggregate_curves
from openvpp.optimization.formats import resolve_product, traded_sides
from openvpp.optimization.ladders import MarketGrid, default_max_segments, ladders

__all__ = ["CnDeclaration", "DeclarationPoint", "Segment", "cn_declaration", "validate_declaration"]


@dataclass(frozen=True, slots=True)
class Segment:
    """One offer segment: volume from ``start_mw`` to ``end_mw`` [MW] at ``price``
    [currency/MWh]."""

    start_mw: Decimal
    end_mw: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True)
class DeclarationPoint:
    """One point (1-based ``index``) of the declaration.

    quantity_mw : declared schedule [MW, + generation].
    lower_mw, upper_mw : the range of the bid curve at the lowest and highest price [MW].
    sell, buy : the segmented offer and bid, volumes of their side [MW].
    """

    index: int
    start_local: str
    delivery_start: datetime
    quantity_mw: Decimal
    lower_mw: Decimal
    upper_mw: Decimal
    sell: tuple[Segment, ...]
    buy: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class CnDeclaration:
    """A day's declaration: ``points`` 96 (quarter-hours) or 24 (hours) in time order."""

    market: str
    product: str
    day: date
    max_segments: int
    points: tuple[DeclarationPoint, ...]


def _segments(rungs: tuple[tuple[int, int], ...], g: MarketGrid) -> tuple[Segment, ...]:
    out, cum = [], 0
    for ticks, lots in rungs:
        out.append(Segment(g.volume(cum), g.volume(cum + lots), g.price(ticks)))
        cum += lots
    return tuple(out)


def cn_declaration(
    curves: BidCurveSet,
    market: Market,
    product: str,
    day: date,
    *,
    points: int = 96,
    max_segments: int | None = None,
) -> CnDeclaration:
    """The declaration of the local ``day`` from quarter-hour (or hourly) curves.

    points : 96, or 24 for hourly periods (load-type VPPs, 60-min products); 96 quarter-hour
        curves are averaged to 24 hourly ones (:func:`aggregate_curves`).
    """
    if points not in (24, 96):
        raise ValueError(f"points: must be 24 or 96, got {points}")
    n_max = default_max_segments(market) if max_segments is None else max_segments
    if len(curves) == 96 and points == 24:
        curves = aggregate_curves(curves, 4)
    if len(curves) != points:
        raise ValueError(f"curves: {len(curves)} intervals for a {points}-point declaration")
    prod = resolve_product(market, product)
    sells, buys = traded_sides(prod)
    intervals = delivery_intervals(prod, day)
    starts = intervals[::4] if prod.period_min == 15 and points == 24 else intervals
    if len(intervals) not in (24, 96) or len(starts) != points:
        raise ValueError(
            f"day: {day} has {len(intervals)} {prod.period_min}-min intervals in "
            f"{market.time_zone}; a {points}-point declaration needs a day without clock change"
        )
    g = MarketGrid.of(market)
    lot = float(g.lot)
    decl = []
    for i, (iv, ladder) in enumerate(
        zip(starts, ladders(curves, market, max_segments=n_max), strict=True)
    ):
        lo = round(float(curves.net_mw[i, 0]) / lot)
        hi = round(float(curves.net_mw[i, -1]) / lot)
        decl.append(
            DeclarationPoint(
                index=i + 1,
                start_local=iv.start_local.strftime("%H:%M"),
                delivery_start=iv.start_utc,
                quantity_mw=g.volume(ladder.expected_lots),
                lower_mw=g.volume(lo),
                upper_mw=g.volume(hi),
                sell=_segments(ladder.sell, g) if sells else (),
                buy=_segments(ladder.buy, g) if buys else (),
            )
        )
    out = CnDeclaration(market.code, product, day, n_max, tuple(decl))
    validate_declaration(out, market)
    return out


def validate_declaration(decl: CnDeclaration, market: Market) -> None:
    """``ValueError`` naming the field of the first rule ``decl`` breaks (module docstring)."""
    if decl.market != market.code:
        raise ValueError(f"market: {decl.market!r} is not {market.code!r}")
    if len(decl.points) not in (24, 96):
        raise ValueError(f"points: {len(decl.points)}, must be 24 or 96")
    g = MarketGrid.of(market)
    lim = market.price_limits
    for n, pt in enumerate(decl.points, start=1):
        if pt.index != n:
            raise ValueError(f"index: point {n} is numbered {pt.index}")
        for name in ("quantity_mw", "lower_mw", "upper_mw"):
            if getattr(pt, name) % g.lot:
                raise ValueError(f"{name}: {getattr(pt, name)} at point {n} is off the lot {g.lot}")
        for side, segs, sign in (("sell", pt.sell, 1), ("buy", pt.buy, -1)):
            if len(segs) > decl.max_segments:
                raise ValueError(
                    f"segments: {len(segs)} {side} segments at point {n}, at most "
                    f"{decl.max_segments}"
                )
            end = Decimal(0)
            for j, s in enumerate(segs):
                if s.start_mw != end:
                    raise ValueError(
                        f"start_mw: {side} segment {j} at point {n} must start at {end}"
                    )
                width = s.end_mw - s.start_mw
                if width % g.lot or width < market.min_order_volume_mw:
                    raise ValueError(
                        f"end_mw: {side} segment {j} at point {n} is {width} MW, not a multiple "
                        f"of {g.lot} of at least {market.min_order_volume_mw}"
                    )
                if s.price % g.tick or not lim.min <= s.price <= lim.max:
                    raise ValueError(
                        f"price: {s.price} at point {n} off the tick {g.tick} or outside "
                        f"[{lim.min}, {lim.max}]"
                    )
                if j and sign * (s.price - segs[j - 1].price) < 0:
                    raise ValueError(
                        f"price: {side} segment prices at point {n} must be "
                        f"{'non-decreasing' if sign > 0 else 'non-increasing'}"
                    )
                end = s.end_mw
