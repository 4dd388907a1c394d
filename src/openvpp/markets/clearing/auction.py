"""Uniform-price (pay-as-clear) auction clearing for one period and for a day of periods.

Pure functions on numpy arrays; no Python loop over orders. Units:

- prices are integer **price ticks** (use :func:`to_ticks` to convert currency amounts; float
  arrays are accepted only when every value is a whole number of ticks);
- quantities are integer **lots** (volume ticks), each row at least one lot;
- every row carries an order id. Several rows may share an id: that is a curve order whose steps
  are separate price-quantity pairs (see :func:`expand_curves`).

Algorithm (docs MARKETS.md, "Uniform-price (pay-as-clear) clearing, one period"):

1. Sort supply by price ascending and demand by price descending; ties are broken by order id,
   then by lots, then by input position (stable sort): deterministic, never random.
2. The accepted volume ``Q`` is the largest number of lots ``q`` for which the ``q``-th
   cheapest supply lot is not dearer than the ``q``-th dearest demand lot. This maximises
   welfare; among welfare-maximal volumes it is the largest (trades at equal prices, which add
   zero welfare, are accepted). Computed from cumulative sums with ``searchsorted``.
3. On each side, rows priced strictly better than the side's marginal price (the price of its
   ``Q``-th lot) are fully accepted, rows priced worse are rejected, and the rows tied at the
   marginal price share the rest **pro rata in whole lots**: each gets
   ``floor(rest * lots / tied_lots)``; the lots left over (fewer than the number of tied rows)
   go one each to the tied rows with the largest fractional remainder, ties by the sort order
   above (order id ascending, then lots, then input position).
4. Valid price range: ``lo = max(accepted supply prices, rejected demand prices)`` and
   ``hi = min(accepted demand prices, rejected supply prices)``, where a row counts as accepted
   when it has at least one accepted lot and as rejected when it has at least one unaccepted lot
   (a partly filled row is both). An empty set contributes nothing; the range is then
   intersected with the market's clearing limits ``[price_min, price_max]``. Any price in the
   range clears the market with nobody losing money and no rejected order missing a profit;
   ``lo <= hi`` always holds.
5. The price is picked in that range by the price rule (:class:`PriceRule`):

   - ``supply_marginal``: ``lo``, the lowest valid price. It equals the highest accepted supply
     price unless a rejected demand bid lies above it (vertical crossing), in which case it is
     that bid: unlike simulators that always report the highest accepted supply price, the
     result is never outside ``[lo, hi]``.
   - ``demand_marginal``: ``hi``, the highest valid price.
   - ``midpoint``: ``(lo + hi) // 2``, rounded down to the tick grid.
   - ``scarcity``: ``hi`` under **shortage**, else ``lo``. Shortage means every supply lot is
     accepted (including when there is no supply at all) while some demand lot is not served.
     The price then rises to the price cap ``price_max`` unless an accepted demand bid below
     the cap bounds it (it never makes accepted demand lose money). When unserved demand bids
     at the cap, ``lo = hi = price_max`` and every rule yields the cap.

No crossing (``Q == 0``): nothing is accepted, ``lo`` is the best bid and ``hi`` the best ask
(``price_min`` / ``price_max`` when that side is empty), and the rule picks within that range
as above. With both sides empty the price is ``None`` and the range is the clearing limits.

Every order price must lie within ``[price_min, price_max]``; magnitudes are limited to
``2**30`` ticks and ``2**31`` lots per side so that all integer arithmetic fits in int64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum, StrEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "MAX_CURVE_POINTS",
    "MAX_TOTAL_LOTS",
    "MIN_CURVE_POINTS",
    "ClearingResult",
    "DayClearingResult",
    "PriceRule",
    "Side",
    "clear_day",
    "clear_orders",
    "clear_period",
    "expand_curves",
    "to_ticks",
]

IntArray = NDArray[np.int64]

MAX_TOTAL_LOTS = 2**31
MAX_ABS_TICKS = 2**30
MIN_CURVE_POINTS = 2
MAX_CURVE_POINTS = 256


class Side(IntEnum):
    """Order side codes for :func:`clear_orders`."""

    SUPPLY = 0
    DEMAND = 1


class PriceRule(StrEnum):
    """How the clearing price is picked inside the valid range ``[lo, hi]``."""

    SUPPLY_MARGINAL = "supply_marginal"
    DEMAND_MARGINAL = "demand_marginal"
    MIDPOINT = "midpoint"
    SCARCITY = "scarcity"


@dataclass(frozen=True, slots=True)
class ClearingResult:
    """Outcome of one period.

    ``supply_accepted`` / ``demand_accepted`` are accepted lots per input row, in input order.
    ``supply_order_ids`` / ``supply_order_lots`` (and the demand pair) are accepted lots per
    distinct order id, ids ascending (curve steps summed). ``welfare`` is in tick-lots.
    """

    volume: int
    price: int | None
    lo: int
    hi: int
    shortage: bool
    welfare: int
    supply_accepted: IntArray
    demand_accepted: IntArray
    supply_order_ids: IntArray
    supply_order_lots: IntArray
    demand_order_ids: IntArray
    demand_order_lots: IntArray


@dataclass(frozen=True, slots=True)
class DayClearingResult:
    """Outcome of a day: one :class:`ClearingResult` per period, plus per-row accepted lots over
    the whole day in input order (the per-period results index rows of that period only, in
    their input order)."""

    periods: tuple[ClearingResult, ...]
    supply_accepted: IntArray
    demand_accepted: IntArray

    @property
    def volumes(self) -> IntArray:
        return np.array([r.volume for r in self.periods], dtype=np.int64)

    @property
    def prices(self) -> list[int | None]:
        return [r.price for r in self.periods]


def to_ticks(prices: ArrayLike, tick: float | Decimal) -> IntArray:
    """Convert currency prices to integer ticks; raise ``ValueError`` for off-grid prices.
    ``tick`` may be a market's ``Decimal`` price tick."""
    if not tick > 0:
        raise ValueError("tick must be positive")
    values = np.asarray(prices, dtype=np.float64)
    scaled = values / float(tick)
    ticks = np.rint(scaled)
    if not np.all(np.isfinite(scaled)) or not np.allclose(scaled, ticks, rtol=0.0, atol=1e-6):
        raise ValueError("price not on the tick grid")
    return ticks.astype(np.int64)


def expand_curves(
    order_ids: Sequence[int], curves: Sequence[tuple[ArrayLike, ArrayLike]]
) -> tuple[IntArray, IntArray, IntArray]:
    """Expand step-curve orders into rows ``(ids, prices, lots)`` for :func:`clear_period`.

    Each curve is ``(prices, lots)`` with 2 to 256 points; ``lots[k]`` is the quantity of the
    step offered at ``prices[k]`` (incremental, not cumulative). All rows of a curve carry its
    order id, so accepted lots are reported per order by summing its steps.
    """
    if len(order_ids) != len(curves):
        raise ValueError("one order id per curve")
    ids: list[IntArray] = []
    prices: list[IntArray] = []
    lots: list[IntArray] = []
    for order_id, (curve_prices, curve_lots) in zip(order_ids, curves, strict=True):
        p = as_int_array(curve_prices, "curve prices")
        q = as_int_array(curve_lots, "curve lots")
        if p.shape != q.shape or not MIN_CURVE_POINTS <= p.size <= MAX_CURVE_POINTS:
            raise ValueError(
                f"a curve needs {MIN_CURVE_POINTS} to {MAX_CURVE_POINTS} price-quantity points"
            )
        ids.append(np.full(p.size, order_id, dtype=np.int64))
        prices.append(p)
        lots.append(q)
    if not ids:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    return np.concatenate(ids), np.concatenate(prices), np.concatenate(lots)


def as_int_array(values: ArrayLike, name: str, *, copy: bool = False) -> IntArray:
    """``values`` as a one-dimensional int64 array (a copy with ``copy``); ``ValueError``
    naming ``name`` unless every value is a whole number of ticks or lots."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=copy)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.rint(arr)):
            raise ValueError(f"{name} must be whole ticks / lots")
        return arr.astype(np.int64)
    raise ValueError(f"{name} must be numeric")


def _validate_side(
    prices: ArrayLike,
    lots: ArrayLike,
    ids: ArrayLike | None,
    price_min: int,
    price_max: int,
    side: str,
) -> tuple[IntArray, IntArray, IntArray]:
    p = as_int_array(prices, f"{side} prices")
    q = as_int_array(lots, f"{side} lots")
    i = np.arange(p.size, dtype=np.int64) if ids is None else as_int_array(ids, f"{side} ids")
    if not p.shape == q.shape == i.shape:
        raise ValueError(f"{side} prices, lots and ids must have the same length")
    if p.size:
        if int(p.min()) < price_min or int(p.max()) > price_max:
            raise ValueError(f"{side} price outside [price_min, price_max]")
        if int(q.min()) < 1:
            raise ValueError(f"{side} lots must be at least 1")
        if int(q.sum()) > MAX_TOTAL_LOTS:
            raise ValueError(f"{side} total lots above {MAX_TOTAL_LOTS}")
    return p, q, i


def _accept_side(keys: IntArray, lots: IntArray, cum: IntArray, volume: int) -> IntArray:
    """Accepted lots per sorted row: ``keys`` ascend (better first), ``cum`` is the cumulative
    sum of ``lots``; full acceptance before the marginal key, pro rata among the tied rows."""
    acc = np.zeros(keys.size, dtype=np.int64)
    if volume == 0:
        return acc
    marginal = keys[np.searchsorted(cum, volume, side="left")]
    a = int(np.searchsorted(keys, marginal, side="left"))
    b = int(np.searchsorted(keys, marginal, side="right"))
    acc[:a] = lots[:a]
    before = int(cum[a - 1]) if a else 0
    rest = volume - before
    tied = lots[a:b]
    tied_total = int(cum[b - 1]) - before
    if rest == tied_total:
        acc[a:b] = tied
        return acc
    num = tied * rest
    base = num // tied_total
    left_over = rest - int(base.sum())
    if left_over:
        rank = np.argsort(-(num % tied_total), kind="stable")
        base[rank[:left_over]] += 1
    acc[a:b] = base
    return acc


def _unsort(order: IntArray, sorted_values: IntArray) -> IntArray:
    out = np.empty_like(sorted_values)
    out[order] = sorted_values
    return out


def _per_order(ids: IntArray, accepted: IntArray) -> tuple[IntArray, IntArray]:
    if ids.size == 0:
        return ids.copy(), accepted.copy()
    uniq, inverse = np.unique(ids, return_inverse=True)
    totals = np.bincount(inverse, weights=accepted, minlength=uniq.size)
    return uniq.astype(np.int64), totals.astype(np.int64)


def clear_period(
    supply_prices: ArrayLike,
    supply_lots: ArrayLike,
    demand_prices: ArrayLike,
    demand_lots: ArrayLike,
    *,
    price_rule: PriceRule | str,
    price_min: int,
    price_max: int,
    supply_ids: ArrayLike | None = None,
    demand_ids: ArrayLike | None = None,
) -> ClearingResult:
    """Clear one period of a uniform-price auction (semantics in the module docstring).

    Ids default to the input position (submission sequence). Raises ``ValueError`` on
    malformed input.
    """
    rule = PriceRule(price_rule)
    price_min, price_max = int(price_min), int(price_max)
    if not -MAX_ABS_TICKS <= price_min <= price_max <= MAX_ABS_TICKS:
        raise ValueError("need -2**30 <= price_min <= price_max <= 2**30")
    sp, sl, si = _validate_side(
        supply_prices, supply_lots, supply_ids, price_min, price_max, "supply"
    )
    dp, dl, di = _validate_side(
        demand_prices, demand_lots, demand_ids, price_min, price_max, "demand"
    )

    # Deterministic priority: price, then order id, then lots, then input position (stable).
    s_order = np.lexsort((sl, si, sp)).astype(np.int64)
    d_order = np.lexsort((dl, di, -dp)).astype(np.int64)
    s_keys, s_lots = sp[s_order], sl[s_order]
    d_keys, d_lots = -dp[d_order], dl[d_order]  # ascending key = descending demand price
    s_cum, d_cum = np.cumsum(s_lots), np.cumsum(d_lots)
    s_total = int(s_cum[-1]) if s_cum.size else 0
    d_total = int(d_cum[-1]) if d_cum.size else 0

    volume = 0
    limit = min(s_total, d_total)
    if limit:
        # f(q) = demand price of lot q minus supply price of lot q is non-increasing and only
        # changes after a step end, so the largest q with f(q) >= 0 is a step end (or 0).
        cand = np.concatenate((s_cum[s_cum <= limit], d_cum[d_cum <= limit]))
        ok = -d_keys[np.searchsorted(d_cum, cand)] >= s_keys[np.searchsorted(s_cum, cand)]
        if ok.any():
            volume = int(cand[ok].max())

    s_acc = _accept_side(s_keys, s_lots, s_cum, volume)
    d_acc = _accept_side(d_keys, d_lots, d_cum, volume)
    d_prices_sorted = -d_keys

    lo_parts = [s_keys[s_acc > 0], d_prices_sorted[d_acc < d_lots]]
    hi_parts = [d_prices_sorted[d_acc > 0], s_keys[s_acc < s_lots]]
    lo = max([price_min] + [int(x.max()) for x in lo_parts if x.size])
    hi = min([price_max] + [int(x.min()) for x in hi_parts if x.size])
    assert lo <= hi, "valid price range is empty"

    shortage = volume == s_total and volume < d_total
    price: int | None
    if s_total == 0 and d_total == 0:
        price = None
    elif rule is PriceRule.SUPPLY_MARGINAL:
        price = lo
    elif rule is PriceRule.DEMAND_MARGINAL:
        price = hi
    elif rule is PriceRule.MIDPOINT:
        price = (lo + hi) // 2
    else:
        price = hi if shortage else lo

    welfare = int(np.dot(d_prices_sorted, d_acc)) - int(np.dot(s_keys, s_acc))
    supply_accepted = _unsort(s_order, s_acc)
    demand_accepted = _unsort(d_order, d_acc)
    s_ids, s_lots_by_order = _per_order(si, supply_accepted)
    d_ids, d_lots_by_order = _per_order(di, demand_accepted)
    return ClearingResult(
        volume=volume,
        price=price,
        lo=lo,
        hi=hi,
        shortage=shortage,
        welfare=welfare,
        supply_accepted=supply_accepted,
        demand_accepted=demand_accepted,
        supply_order_ids=s_ids,
        supply_order_lots=s_lots_by_order,
        demand_order_ids=d_ids,
        demand_order_lots=d_lots_by_order,
    )


def clear_orders(
    side: ArrayLike,
    prices: ArrayLike,
    lots: ArrayLike,
    ids: ArrayLike | None = None,
    *,
    price_rule: PriceRule | str,
    price_min: int,
    price_max: int,
) -> tuple[ClearingResult, IntArray]:
    """Clear one period given a single book with a side code per row (:class:`Side`).

    Returns the result of :func:`clear_period` and the accepted lots per input row. Ids
    default to the row's position in the book."""
    sd = as_int_array(side, "side")
    p = as_int_array(prices, "prices")
    q = as_int_array(lots, "lots")
    i = np.arange(p.size, dtype=np.int64) if ids is None else as_int_array(ids, "ids")
    if not sd.shape == p.shape == q.shape == i.shape:
        raise ValueError("side, prices, lots and ids must have the same length")
    is_supply = sd == Side.SUPPLY
    if not np.all(is_supply | (sd == Side.DEMAND)):
        raise ValueError("side must be Side.SUPPLY (0) or Side.DEMAND (1)")
    is_demand = ~is_supply
    result = clear_period(
        p[is_supply],
        q[is_supply],
        p[is_demand],
        q[is_demand],
        price_rule=price_rule,
        price_min=price_min,
        price_max=price_max,
        supply_ids=i[is_supply],
        demand_ids=i[is_demand],
    )
    accepted = np.empty(p.size, dtype=np.int64)
    accepted[is_supply] = result.supply_accepted
    accepted[is_demand] = result.demand_accepted
    return result, accepted


def clear_day(
    supply_periods: ArrayLike,
    supply_prices: ArrayLike,
    supply_lots: ArrayLike,
    demand_periods: ArrayLike,
    demand_prices: ArrayLike,
    demand_lots: ArrayLike,
    *,
    price_rule: PriceRule | str,
    price_min: int,
    price_max: int,
    supply_ids: ArrayLike | None = None,
    demand_ids: ArrayLike | None = None,
    n_periods: int,
) -> DayClearingResult:
    """Clear ``n_periods`` periods independently; ``*_periods`` give each row's period index
    in ``[0, n_periods)``. ``n_periods`` has no default: a day has 92, 96 or 100
    quarter-hours (23, 24 or 25 hours), so it comes from the calendar
    (``len(delivery_intervals(...))``). Ids default to the row's position in the whole day's
    input. The loop runs over periods only; each period is cleared by :func:`clear_period`."""
    if n_periods < 1:
        raise ValueError("n_periods must be positive")
    sides = []
    for periods, prices, lots, ids, name in (
        (supply_periods, supply_prices, supply_lots, supply_ids, "supply"),
        (demand_periods, demand_prices, demand_lots, demand_ids, "demand"),
    ):
        per = as_int_array(periods, f"{name} periods")
        p = as_int_array(prices, f"{name} prices")
        q = as_int_array(lots, f"{name} lots")
        i = np.arange(p.size, dtype=np.int64) if ids is None else as_int_array(ids, f"{name} ids")
        if not per.shape == p.shape == q.shape == i.shape:
            raise ValueError(f"{name} periods, prices, lots and ids must have the same length")
        if per.size and (int(per.min()) < 0 or int(per.max()) >= n_periods):
            raise ValueError(f"{name} period outside [0, n_periods)")
        order = np.argsort(per, kind="stable").astype(np.int64)
        bounds = np.searchsorted(per[order], np.arange(n_periods + 1))
        sides.append((order, bounds, p[order], q[order], i[order]))

    (s_order, s_bounds, sp, sl, si), (d_order, d_bounds, dp, dl, di) = sides
    s_acc_sorted = np.zeros(sp.size, dtype=np.int64)
    d_acc_sorted = np.zeros(dp.size, dtype=np.int64)
    results: list[ClearingResult] = []
    for t in range(n_periods):
        s0, s1 = int(s_bounds[t]), int(s_bounds[t + 1])
        d0, d1 = int(d_bounds[t]), int(d_bounds[t + 1])
        res = clear_period(
            sp[s0:s1],
            sl[s0:s1],
            dp[d0:d1],
            dl[d0:d1],
            price_rule=price_rule,
            price_min=price_min,
            price_max=price_max,
            supply_ids=si[s0:s1],
            demand_ids=di[d0:d1],
        )
        s_acc_sorted[s0:s1] = res.supply_accepted
        d_acc_sorted[d0:d1] = res.demand_accepted
        results.append(res)
    return DayClearingResult(
        periods=tuple(results),
        supply_accepted=_unsort(s_order, s_acc_sorted),
        demand_accepted=_unsort(d_order, d_acc_sorted),
    )
