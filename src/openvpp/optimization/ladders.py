"""Bid curves on a market's grids: prices in integer ticks, volumes in integer lots, at most a
number of segments per interval and side, every segment at least the minimum order volume.

The shared discretisation behind every format of :mod:`openvpp.optimization.formats`.

Rounding rules (``docs/bidding.md``):

* A sell step at price ``p`` is priced ``ceil(p / tick)`` ticks, a buy step ``floor(p / tick)``:
  clearing prices lie on the tick grid, so a sell accepted at ``P >= p`` is accepted exactly at
  the same tick prices; then prices are clipped to the bid limits.
* The *cumulative* sold and bought quantities are rounded to lots (half to even) and the orders
  are their differences, so at every price the awarded volume is within half a lot of the curve.
* With more steps than segments allowed, steps merge into ``N`` chunks of about equal volume,
  one chunk ending at the anchor price; a merged chunk takes the price of its last step in
  acceptance order (the highest for sells, the lowest for buys), i.e. it is never accepted at a
  price where the curve would not have offered all of it.
* A chunk below the minimum order volume merges into the next one in acceptance order; the
  last one, and one ending at the anchor, into the previous one at their own price (so the
  volume at the anchor price stays exact when a chunk precedes it), except that a last chunk
  following the anchor's chunk is dropped (less than the minimum volume at the top of the
  curve); a side whose total is below the minimum is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openvpp.markets.exchange.rules import max_order_volume_mw
from openvpp.markets.model import Market
from openvpp.optimization.bids import BidCurveSet

__all__ = [
    "DEFAULT_MAX_SEGMENTS",
    "FALLBACK_MAX_SEGMENTS",
    "IntervalLadder",
    "MarketGrid",
    "default_max_segments",
    "ladders",
    "round_to_lots",
]

IntArray = NDArray[np.int64]

DEFAULT_MAX_SEGMENTS: dict[str, int] = {
    "EU-SDAC": 256,  # curve orders of 2-256 price-quantity points (MARKETS.md)
    "EU-SIDC": 256,  # one order per step; capped like SDAC curves
    "US-ISO-DA": 10,  # ISO energy offers: up to 10 price-MW pairs per hour (check)
    "US-ISO-RT": 10,
    "US-ISO-DR": 10,
    "CN-SD-DA": 10,  # provincial spot offers: up to 10 segments (check; Guangdong allows 5)
    "CN-SD-RT": 10,
    "CN-SD-DR": 5,
    "CN-SD-PEAK": 5,
}
"""Segments per interval and side by market code; the presets carry no such field."""
FALLBACK_MAX_SEGMENTS = 10
"""Segments per interval and side for a market not in :data:`DEFAULT_MAX_SEGMENTS`."""

_EPS = 1e-9  # [ticks, lots] float noise tolerated before rounding up or down


def default_max_segments(market: Market) -> int:
    """Segments allowed per interval and side in ``market`` (documented defaults)."""
    return DEFAULT_MAX_SEGMENTS.get(market.code, FALLBACK_MAX_SEGMENTS)


def _units(value: Decimal, unit: Decimal, field: str) -> int:
    q = value / unit
    if q != q.to_integral_value():
        raise ValueError(f"{field}: {value} is not a multiple of {unit}")
    return int(q)


@dataclass(frozen=True, slots=True)
class MarketGrid:
    """A market's exact grids as integers: price tick [currency/MWh], lot [MW], bid limits
    [ticks], minimum and maximum order volume [lots]."""

    tick: Decimal
    lot: Decimal
    lo_ticks: int
    hi_ticks: int
    min_lots: int
    max_lots: int

    @classmethod
    def of(cls, market: Market) -> MarketGrid:
        """The grid of ``market``; ``ValueError`` naming the field if a limit is off its tick."""
        tick, lot = market.price_tick, market.volume_tick_mw
        return cls(
            tick=tick,
            lot=lot,
            lo_ticks=_units(market.price_limits.min, tick, "price_limits.min"),
            hi_ticks=_units(market.price_limits.max, tick, "price_limits.max"),
            min_lots=_units(market.min_order_volume_mw, lot, "min_order_volume_mw"),
            max_lots=int(max_order_volume_mw(market) // lot),
        )

    def price(self, ticks: int) -> Decimal:
        """``ticks`` as a price [currency/MWh], exact."""
        return ticks * self.tick

    def volume(self, lots: int) -> Decimal:
        """``lots`` as a volume [MW], exact."""
        return lots * self.lot


def round_to_lots(volume_mw: ArrayLike, lot: Decimal, *, ties: Literal["away", "even"]) -> IntArray:
    """Signed volumes [MW] in whole lots of ``lot`` [MW] (a market's ``volume_tick_mw``).

    ties : a volume half-way between two lots rounds ``"away"`` from zero (a quotient within
        1e-9 lot below the half counts as the half), or to ``"even"`` (the quotient rounded to
        9 decimals first, so that float noise on the decimal grid cannot flip the tie).

    No minimum order volume applies here: the caller drops what is below it.
    """
    v = np.asarray(volume_mw, dtype=np.float64) / float(lot)
    if ties == "away":
        return np.asarray(np.sign(v) * np.floor(np.abs(v) + 0.5 + _EPS), dtype=np.int64)
    if ties == "even":
        return np.asarray(np.rint(np.round(v, 9)), dtype=np.int64)
    raise ValueError(f"ties: away or even, got {ties!r}")


@dataclass(frozen=True, slots=True)
class IntervalLadder:
    """One interval's orders on the grid: ``(price [ticks], volume [lots])`` per segment.

    sell : price ascending (acceptance order of a supply curve).
    buy : price descending (acceptance order of a demand curve).
    expected_lots : the expected schedule rounded to lots [lots, + sell].
    """

    sell: tuple[tuple[int, int], ...]
    buy: tuple[tuple[int, int], ...]
    expected_lots: int

    def net_lots_at(self, price_ticks: int) -> int:
        """Net volume awarded at a clearing price [lots, + sell]."""
        sold = sum(lots for p, lots in self.sell if p <= price_ticks)
        bought = sum(lots for p, lots in self.buy if p >= price_ticks)
        return sold - bought


def _chunks(
    ticks: IntArray, lots: IntArray, anchor_cum: int, n_max: int, min_lots: int
) -> list[tuple[int, int]]:
    """Merge one side's steps (acceptance order, positive lots, distinct ticks) into at most
    ``n_max`` chunks of at least ``min_lots``; see the module docstring."""
    cum = np.cumsum(lots)
    total = int(cum[-1])
    if total < min_lots:
        return []
    if len(lots) > n_max:
        with_anchor = 0 < anchor_cum < total and n_max > 1
        n_eq = n_max - 1 if with_anchor else n_max
        targets = np.rint(np.arange(1, n_eq + 1) * total / n_eq).astype(np.int64)
        ends = set(np.searchsorted(cum, targets, side="left").tolist())
        if with_anchor:
            ends.add(int(np.searchsorted(cum, anchor_cum, side="left")))
        idx = np.array(sorted(ends), dtype=np.int64)
        sizes = np.diff(np.concatenate([[0], cum[idx]]))
        pairs = list(zip(ticks[idx].tolist(), sizes.tolist(), strict=True))
    else:
        pairs = list(zip(ticks.tolist(), lots.tolist(), strict=True))
    out: list[tuple[int, int]] = []
    pending, cum_end = 0, 0
    for tick, size in pairs:
        pending += size
        cum_end += size
        if pending >= min_lots:
            out.append((tick, pending))
            pending = 0
        elif cum_end == anchor_cum and out:  # keep the break at the anchor: merge backwards
            _, prev = out.pop()
            out.append((tick, prev + pending))
            pending = 0
    if pending and cum_end - pending != anchor_cum:
        # a tail below the minimum joins the previous chunk at the tail's price, unless that
        # chunk ends at the anchor (moving it would lose the expected volume): then it is dropped
        _, size = out.pop()
        out.append((pairs[-1][0], size + pending))
    return out


def _side(
    ticks: IntArray, lots: IntArray, anchor_cum: int, n_max: int, min_lots: int
) -> tuple[tuple[int, int], ...]:
    keep = lots > 0
    if not keep.any():
        return ()
    t, q = ticks[keep], lots[keep]
    # equal ticks (clipped to a limit, or rounded together) add up; ticks are monotone here
    first = np.concatenate([[True], t[1:] != t[:-1]])
    starts = np.flatnonzero(first)
    return tuple(_chunks(t[starts], np.add.reduceat(q, starts), anchor_cum, n_max, min_lots))


def ladders(
    curves: BidCurveSet, market: Market, *, max_segments: int | None = None
) -> list[IntervalLadder]:
    """The curves on ``market``'s grid, one :class:`IntervalLadder` per interval.

    max_segments : segments per interval and side (default :func:`default_max_segments`).
    """
    n_max = default_max_segments(market) if max_segments is None else max_segments
    if n_max < 1:
        raise ValueError(f"max_segments: must be at least 1, got {n_max}")
    g = MarketGrid.of(market)
    tick, lot = float(g.tick), float(g.lot)
    x = curves.prices / tick
    sell_t = np.clip(np.ceil(x - _EPS), g.lo_ticks, g.hi_ticks).astype(np.int64)
    buy_t = np.clip(np.floor(x + _EPS), g.lo_ticks, g.hi_ticks).astype(np.int64)
    s_cum = np.rint(np.maximum(curves.net_mw, 0.0) / lot).astype(np.int64)
    b_cum = np.rint(np.maximum(-curves.net_mw, 0.0) / lot).astype(np.int64)
    s_inc = np.diff(s_cum, axis=1, prepend=0)
    b_inc = b_cum - np.concatenate([b_cum[:, 1:], np.zeros((len(curves), 1), np.int64)], axis=1)
    a_t = np.clip(np.rint(curves.anchor_price / tick), g.lo_ticks, g.hi_ticks).astype(np.int64)
    s_anchor = np.where(sell_t <= a_t[:, None], s_inc, 0).sum(axis=1)
    b_anchor = np.where(buy_t >= a_t[:, None], b_inc, 0).sum(axis=1)
    expected = np.rint(curves.expected_mw / lot).astype(np.int64)
    out = []
    for t in range(len(curves)):
        sell = _side(sell_t[t], s_inc[t], int(s_anchor[t]), n_max, g.min_lots)
        buy = _side(buy_t[t, ::-1], b_inc[t, ::-1], int(b_anchor[t]), n_max, g.min_lots)
        big = [lots for _, lots in (*sell, *buy) if lots > g.max_lots]
        if big:
            raise ValueError(
                f"quantity_mw: {g.volume(big[0])} MW in interval {t} exceeds the maximum order "
                f"volume {g.volume(g.max_lots)} MW of {market.code}"
            )
        out.append(IntervalLadder(sell=sell, buy=buy, expected_lots=int(expected[t])))
    return out
