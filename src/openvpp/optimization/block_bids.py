"""Profile block orders from the expected schedule, for complex day-ahead clearing.

The simulated exchange takes single limit orders per delivery interval only; block orders are
cleared by :func:`openvpp.markets.clearing.complex.clear_complex`, whose input
:class:`~openvpp.markets.clearing.blocks.BlockOrder` :func:`block_orders` produces. Each
contiguous run of intervals in which the expected schedule sells (or buys) at least the
minimum order volume becomes one block with that run's profile.

Block price [currency/MWh]: the volume-weighted mean of the per-interval reservation prices,
i.e. for a sell block the lowest curve price at which the curve sells the block's volume in
that interval (rounded up to the tick), for a buy block the highest price at which it still
buys it (rounded down). A sell block is accepted when the volume-weighted clearing price over
its profile reaches that mean; for costs that are linear in the volume this recovers the
block's cost exactly, otherwise it is an approximation (``docs/bidding.md``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

import numpy as np

from openvpp.markets.clearing.auction import Side
from openvpp.markets.clearing.blocks import BlockOrder
from openvpp.markets.connectors.protocol import OrderSide
from openvpp.markets.model import Market
from openvpp.optimization.bids import BidCurveSet
from openvpp.optimization.formats import product_intervals
from openvpp.optimization.ladders import MarketGrid

__all__ = ["BlockSpec", "block_orders", "profile_blocks"]

_SLUG = re.compile(r"[^A-Za-z0-9_]")


@dataclass(frozen=True, slots=True)
class BlockSpec:
    """A profile block over the local delivery day.

    block_id : deterministic id from the decision, market, product, side and first interval.
    price : limit price [currency/MWh]: lowest average price for a sell block, highest for a
        buy block.
    delivery_starts : the day's interval starts [UTC] (92/96/100 quarter-hours on DST days).
    quantities_mw : volume per interval [MW], zero outside the block's run.
    min_ratio : minimum acceptance ratio in (0, 1] (1: fill-or-kill).
    parent : block id of the parent (linked block) or ``None``.
    """

    block_id: str
    market: str
    product: str
    side: OrderSide
    price: Decimal
    delivery_starts: tuple[datetime, ...]
    quantities_mw: tuple[Decimal, ...]
    min_ratio: Decimal = Decimal(1)
    parent: str | None = None

    @property
    def first(self) -> int:
        """Index of the block's first interval with volume."""
        return next(i for i, q in enumerate(self.quantities_mw) if q)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of ``True``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)
    )


def _block_id(decision_id: str, market: str, product: str, side: OrderSide, start: datetime) -> str:
    if not decision_id:
        raise ValueError("decision_id: must not be empty")
    slug = _SLUG.sub("", decision_id)[:20] or "d"
    digest = hashlib.sha256(f"{decision_id}\x1f{market}\x1f{product}".encode()).hexdigest()[:10]
    return f"{slug}-{digest}-{start:%Y%m%d%H%M}-{'S' if side is OrderSide.SELL else 'B'}BLK"


def profile_blocks(
    curves: BidCurveSet,
    market: Market,
    product: str,
    day: date,
    decision_id: str,
    *,
    min_ratio: Decimal = Decimal(1),
    linked: bool = False,
) -> list[BlockSpec]:
    """Blocks carrying the expected schedule of the local ``day`` (module docstring).

    linked : when true, each sell block's parent is the latest buy block that ends before it
        starts (a storage discharge accepted only with its charge).
    Periods whose rounded volume is below the minimum order volume carry none.
    """
    if not Decimal(0) < min_ratio <= 1:
        raise ValueError(f"min_ratio: {min_ratio} must be in (0, 1]")
    _, intervals = product_intervals(curves, market, product, day)
    g = MarketGrid.of(market)
    tick, lot = float(g.tick), float(g.lot)
    lots = np.rint(curves.expected_mw / lot).astype(np.int64)
    starts = tuple(iv.start_utc for iv in intervals)
    specs: list[BlockSpec] = []
    for side, sign in ((OrderSide.BUY, -1), (OrderSide.SELL, 1)):
        vol = np.where(sign * lots >= g.min_lots, sign * lots, 0)
        have = np.maximum(sign * curves.net_mw, 0.0)  # (T, K) quantity of this side
        reach = have >= (vol * lot - lot / 2)[:, None]
        if side is OrderSide.SELL:  # lowest price selling the volume
            k = np.argmax(reach, axis=1)
        else:  # highest price still buying it
            k = reach.shape[1] - 1 - np.argmax(reach[:, ::-1], axis=1)
        reservation = curves.prices[np.arange(len(curves)), k]
        for a, b in _runs(vol > 0):
            mean = float(np.dot(reservation[a:b], vol[a:b]) / vol[a:b].sum()) / tick
            ticks = int(np.ceil(mean - 1e-9) if side is OrderSide.SELL else np.floor(mean + 1e-9))
            ticks = min(max(ticks, g.lo_ticks), g.hi_ticks)
            q = np.zeros(len(curves), dtype=np.int64)
            q[a:b] = vol[a:b]
            specs.append(
                BlockSpec(
                    block_id=_block_id(decision_id, market.code, product, side, starts[a]),
                    market=market.code,
                    product=product,
                    side=side,
                    price=g.price(ticks),
                    delivery_starts=starts,
                    quantities_mw=tuple(g.volume(int(x)) for x in q),
                    min_ratio=min_ratio,
                )
            )
    if linked:
        buys = [s for s in specs if s.side is OrderSide.BUY]
        out = []
        for s in specs:
            if s.side is OrderSide.SELL:
                before = [b for b in buys if _last(b) < s.first]
                if before:
                    s = replace(s, parent=max(before, key=_last).block_id)
            out.append(s)
        specs = out
    specs = sorted(specs, key=lambda s: (s.first, s.side))
    block_orders(specs, market)  # validates against the market's rules
    return specs


def _last(spec: BlockSpec) -> int:
    return max(i for i, q in enumerate(spec.quantities_mw) if q)


def block_orders(specs: Sequence[BlockSpec], market: Market) -> list[BlockOrder]:
    """The specs as :class:`BlockOrder` inputs of complex clearing: ids 1, 2, ... in order,
    prices in ticks, volumes in lots; ``ValueError`` naming the field on a rule violation."""
    g = MarketGrid.of(market)
    ids = {s.block_id: i for i, s in enumerate(specs, start=1)}
    if len(ids) != len(specs):
        raise ValueError("block_id: repeated")
    out = []
    for s in specs:
        if s.market != market.code:
            raise ValueError(f"market: {s.market!r} is not {market.code!r}")
        if s.price % g.tick or not market.price_limits.min <= s.price <= market.price_limits.max:
            raise ValueError(f"price: {s.price} off the tick {g.tick} or outside the limits")
        lots = []
        for q in s.quantities_mw:
            if q % g.lot or q < 0 or (q and q < market.min_order_volume_mw):
                raise ValueError(f"quantities_mw: {q} off the lot {g.lot} or below the minimum")
            lots.append(int(q / g.lot))
        if s.parent is not None and s.parent not in ids:
            raise ValueError(f"parent: unknown block {s.parent!r}")
        out.append(
            BlockOrder(
                id=ids[s.block_id],
                side=Side.SUPPLY if s.side is OrderSide.SELL else Side.DEMAND,
                price=int(s.price / g.tick),
                lots=np.asarray(lots, dtype=np.int64),
                min_ratio=s.min_ratio,
                parent=None if s.parent is None else ids[s.parent],
            )
        )
    return out
