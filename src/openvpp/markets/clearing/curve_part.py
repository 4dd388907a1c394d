"""The curve part of complex day-ahead clearing (:mod:`complex`): validation of the curve rows
and the exact clearing of each period's curves at fixed block volumes.

With block volumes fixed in whole lots, each period's curves form an ordinary auction, cleared
with :func:`auction.clear_period`; the net block injection enters as one price-inelastic row.
This gives the accepted curve lots, the valid price interval and the price rule's choice inside
it (module docstring of :mod:`complex`, "Whole lots" and "Prices").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openvpp.markets.clearing.auction import PriceRule, Side, as_int_array, clear_period

__all__ = [
    "MAX_TOTAL_LOTS",
    "Curves",
    "PeriodClearing",
    "UnbalancedError",
    "clear_curve_periods",
    "validate_curves",
]

IntArray = NDArray[np.int64]

MAX_TOTAL_LOTS = 2**31


@dataclass(slots=True)
class Curves:
    """Validated curve rows, input order."""

    periods: IntArray
    supply: NDArray[np.bool_]
    prices: IntArray
    lots: IntArray
    ids: IntArray


@dataclass(slots=True)
class PeriodClearing:
    """Curve clearing per period at fixed block volumes: valid interval ``[lo, hi]`` and rule
    price ``p0`` [ticks], accepted lots per curve row [lots]."""

    lo: IntArray
    hi: IntArray
    p0: IntArray
    accepted: IntArray  # per curve row, input order


class UnbalancedError(RuntimeError):
    """The curves of a period cannot absorb the block volumes."""


# ------------------------------------------------------------------------------ validation


def _first_bad(mask: NDArray[np.bool_]) -> int | None:
    bad = np.flatnonzero(mask)
    return int(bad[0]) if bad.size else None


def validate_curves(
    periods: ArrayLike,
    sides: ArrayLike,
    prices: ArrayLike,
    lots: ArrayLike,
    ids: ArrayLike | None,
    n_periods: int,
    price_min: int,
    price_max: int,
) -> Curves:
    """Check the curve rows of :func:`complex.clear_complex`; ``ValueError`` names the first
    offending row, its id and field."""
    per = as_int_array(periods, "curve periods")
    sd = as_int_array(sides, "curve sides")
    p = as_int_array(prices, "curve prices")
    q = as_int_array(lots, "curve lots")
    i = np.arange(p.size, dtype=np.int64) if ids is None else as_int_array(ids, "curve ids")
    if not per.shape == sd.shape == p.shape == q.shape == i.shape:
        raise ValueError("curve periods, sides, prices, lots and ids must have the same length")
    checks = (
        ((per < 0) | (per >= n_periods), "period", per, f"outside [0, {n_periods})"),
        ((sd != Side.SUPPLY) & (sd != Side.DEMAND), "side", sd, "not SUPPLY (0) or DEMAND (1)"),
        ((p < price_min) | (p > price_max), "price", p, f"outside [{price_min}, {price_max}]"),
        (q < 1, "lots", q, "below 1"),
    )
    for mask, field, values, what in checks:
        row = _first_bad(mask)
        if row is not None:
            raise ValueError(f"curve row {row} (id {int(i[row])}): {field} {values[row]} {what}")
    is_supply = sd == Side.SUPPLY
    for flag, name in ((is_supply, "supply"), (~is_supply, "demand")):
        totals = np.bincount(per[flag], weights=q[flag], minlength=n_periods)
        if totals.size and float(totals.max()) > MAX_TOTAL_LOTS:
            raise ValueError(f"curve {name} lots in one period above {MAX_TOTAL_LOTS}")
    return Curves(per, is_supply, p, q, i)


# ------------------------------------------------------------------------------ clearing


def _rule_price(lo: int, hi: int, shortage: bool, rule: PriceRule) -> int:
    if rule is PriceRule.SUPPLY_MARGINAL:
        return lo
    if rule is PriceRule.DEMAND_MARGINAL:
        return hi
    if rule is PriceRule.MIDPOINT:
        return (lo + hi) // 2
    return hi if shortage else lo


def clear_curve_periods(
    curves: Curves,
    injection: IntArray,
    n_periods: int,
    rule: PriceRule,
    price_min: int,
    price_max: int,
) -> PeriodClearing:
    """Clear each period's curves with the net block injection as a price-inelastic row
    (supply at ``price_min - 1`` or demand at ``price_max + 1``: served before any curve step)."""
    order = np.lexsort((~curves.supply, curves.periods))
    per, sup = curves.periods[order], curves.supply[order]
    p, q, i = curves.prices[order], curves.lots[order], curves.ids[order]
    bounds = np.searchsorted(per, np.arange(n_periods + 1))
    acc_sorted = np.zeros(p.size, dtype=np.int64)
    lo = np.zeros(n_periods, dtype=np.int64)
    hi = np.zeros(n_periods, dtype=np.int64)
    p0 = np.zeros(n_periods, dtype=np.int64)
    for t in range(n_periods):
        a, c = int(bounds[t]), int(bounds[t + 1])
        mid = a + int(np.count_nonzero(sup[a:c]))  # supply rows first within the period
        sp, sl, si = p[a:mid], q[a:mid], i[a:mid]
        dp, dl, di = p[mid:c], q[mid:c], i[mid:c]
        inj = int(injection[t])
        if inj > 0:
            sp, sl, si = (np.append(x, y) for x, y in ((sp, price_min - 1), (sl, inj), (si, -1)))
        elif inj < 0:
            dp, dl, di = (np.append(x, y) for x, y in ((dp, price_max + 1), (dl, -inj), (di, -1)))
        res = clear_period(
            sp,
            sl,
            dp,
            dl,
            price_rule=rule,
            price_min=price_min - (inj != 0),
            price_max=price_max + (inj != 0),
            supply_ids=si,
            demand_ids=di,
        )
        lo_t, hi_t = max(res.lo, price_min), min(res.hi, price_max)
        served = res.supply_accepted[-1] if inj > 0 else res.demand_accepted[-1] if inj else 0
        if lo_t > hi_t or served != abs(inj):
            raise UnbalancedError(f"period {t}: block injection {inj} cannot be balanced")
        lo[t], hi[t] = lo_t, hi_t
        p0[t] = _rule_price(lo_t, hi_t, res.shortage, rule)
        acc_sorted[a:mid] = res.supply_accepted[: mid - a]
        acc_sorted[mid:c] = res.demand_accepted[: c - mid]
    accepted = np.empty_like(acc_sorted)
    accepted[order] = acc_sorted
    return PeriodClearing(lo, hi, p0, accepted)
