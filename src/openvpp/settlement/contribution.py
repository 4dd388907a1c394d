"""Contribution of each resource to a VPP's settlement result (pure, exact).

A VPP's result has two parts, allocated differently:

- **Market revenue** (``day_ahead``, ``intraday``, ``contract_for_difference``): in each
  interval the VPP's trades earned a value for its position; each resource is credited its
  scheduled energy times the VPP's realised price of that interval (value / position). What
  this leaves over (the resources' schedules do not add up to the position, or the position
  is zero while buys and sales at different prices earned something) is shared in proportion
  to the resources' absolute scheduled energy.
- **Costs** (``imbalance``, ``deviation_penalty``, fees): they depend on how the resources'
  deviations net out, so a resource's share is what it adds to the coalition:

  - ``shapley``: the exact Shapley value of the cooperative game whose value ``v(S)`` is the
    costs of the coalition ``S`` settled alone (its summed schedule and meter under
    the run's prices and rules). Every one of the ``2^n`` coalitions is settled: cost
    ``O(2^n x n x T)`` for ``n`` resources and ``T`` intervals, so it is offered up to
    :data:`MAX_SHAPLEY` resources (16: 65,536 coalitions, about a second for 96 intervals);
  - ``pro_rata``: in proportion to each resource's absolute deviation energy (any size).

  The part of the run's actual costs that the game does not explain (the VPP's meter
  is not the sum of its resources') is shared like ``pro_rata``.

Every split is in integer minor units by the largest-remainder method (ties to the lower
index), so the contributions add up to the run's total exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from math import factorial

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openvpp.core.money import IntArray
from openvpp.markets.model import Settlement
from openvpp.settlement import engine
from openvpp.settlement.engine import EnergyIntervals

__all__ = [
    "COST_COLUMNS",
    "MAX_SHAPLEY",
    "REVENUE_COLUMNS",
    "Contribution",
    "coalition_costs",
    "coalition_matrix",
    "cost_shares",
    "largest_remainder",
    "market_revenue",
    "pro_rata",
    "shapley",
]

MAX_SHAPLEY = 16


def largest_remainder(total: int, shares: list[Fraction]) -> IntArray:
    """Integers adding up to ``total`` closest to ``shares`` (which add up to ``total``):
    each share's floor, plus one for the largest fractional parts (ties: lower index)."""
    if not shares:
        if total:
            raise ValueError(f"cannot split {total} over no one")
        return np.zeros(0, dtype=np.int64)
    if sum(shares) != total:
        raise ValueError("shares must add up to the total")
    floors = [s.numerator // s.denominator for s in shares]
    left = total - sum(floors)
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return np.array(floors, dtype=np.int64)


def pro_rata(total: int, weights: ArrayLike) -> IntArray:
    """``total`` [minor units] split in proportion to non-negative ``weights``, exactly (equal
    shares when every weight is zero)."""
    w = [Fraction(int(x)) for x in np.asarray(weights, dtype=np.int64).ravel()]
    if any(x < 0 for x in w):
        raise ValueError("weights must not be negative")
    if not w:
        return largest_remainder(total, [])
    whole = sum(w)
    shares = (
        [Fraction(total) * x / whole for x in w] if whole else [Fraction(total, len(w))] * len(w)
    )
    return largest_remainder(total, shares)


def market_revenue(value: ArrayLike, position: ArrayLike, scheduled: ArrayLike) -> IntArray:
    """Each resource's share of the VPP's market revenue [minor units].

    value : the VPP's market revenue per interval ``(T,)`` [minor units]; position : its net
    position ``(T,)`` [energy steps]; scheduled : the resources' schedules ``(n, T)`` [steps].

    In each interval with a position, resource ``i`` is credited ``s_i x value / position``
    exactly, floored; where the schedules add up to the position, the interval's leftover
    units go to the largest remainders (ties: lower index), so the interval's value is shared
    whole. What remains of the total is shared by absolute schedule (:func:`pro_rata`).
    Vectorized integer arithmetic.
    """
    v = np.asarray(value, dtype=np.int64)
    q = np.asarray(position, dtype=np.int64)
    s = np.asarray(scheduled, dtype=np.int64)
    n = s.shape[0]
    credited = np.zeros_like(s)
    cols = np.flatnonzero(q)
    if n and cols.size:
        largest = float(np.abs(s).max(initial=0)) * float(np.abs(v).max(initial=0))
        if largest >= 2.0**62:
            raise ValueError("schedule x value too large for exact allocation")
        sign = np.sign(q[cols])
        num = s[:, cols] * (v[cols] * sign)[None, :]
        den = np.abs(q[cols])[None, :]
        floor = num // den
        remainder = num - floor * den
        whole = s[:, cols].sum(axis=0) == q[cols]  # the schedules share the whole value
        leftover = np.where(whole, v[cols] - floor.sum(axis=0), 0)
        order = np.argsort(-remainder, axis=0, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(n)[:, None].repeat(cols.size, axis=1), axis=0)
        credited[:, cols] = floor + (rank < leftover[None, :])
    shares: IntArray = credited.sum(axis=1).astype(np.int64)
    rest = int(v.sum()) - int(shares.sum())
    out: IntArray = shares + pro_rata(rest, np.abs(s).sum(axis=1))
    return out


def coalition_matrix(n: int) -> NDArray[np.int64]:
    """Row ``k`` marks the members of coalition ``k`` (bit ``i`` of ``k``): ``(2^n, n)``."""
    if not 0 <= n <= MAX_SHAPLEY:
        raise ValueError(f"exact Shapley values are offered up to {MAX_SHAPLEY} resources, got {n}")
    k = np.arange(2**n, dtype=np.int64)[:, None]
    out: NDArray[np.int64] = ((k >> np.arange(n, dtype=np.int64)[None, :]) & 1).astype(np.int64)
    return out


def shapley(values: ArrayLike) -> list[Fraction]:
    """Exact Shapley values of the game with ``values[k] = v(coalition k)`` (bit ``i`` of ``k``
    for player ``i``; ``values[0] = v(empty)``). They add up to ``v(all) - v(empty)``.

    ``phi_i = sum over S without i of |S|! (n-|S|-1)! / n! x (v(S + i) - v(S))``, summed per
    coalition size in integers, divided once.
    """
    v = np.asarray(values, dtype=np.int64)
    size = v.shape[0]
    n = size.bit_length() - 1
    if size != 2**n:
        raise ValueError(f"values must have 2^n entries, got {size}")
    k = np.arange(size, dtype=np.int64)
    popcount = np.zeros(size, dtype=np.int64)
    for i in range(n):
        popcount += (k >> i) & 1
    out = []
    for i in range(n):
        without = k[((k >> i) & 1) == 0]
        marginal = v[without | (1 << i)] - v[without]
        sizes = popcount[without]
        acc = 0
        for s in range(n):
            chosen = marginal[sizes == s]
            if chosen.size:
                acc += int(chosen.sum()) * factorial(s) * factorial(n - s - 1)
        out.append(Fraction(acc, factorial(n)))
    return out


@dataclass(frozen=True)
class Contribution:
    """Per resource [minor units]: market revenue, costs and their sum; ``method`` is how the
    costs were shared (``shapley`` or ``pro_rata``)."""

    resource_ids: list[str]
    market_revenue: IntArray
    costs: IntArray
    method: str

    @property
    def total(self) -> IntArray:
        return self.market_revenue + self.costs


def cost_shares(
    actual_total: int,
    deviation: NDArray[np.int64],
    coalition_cost: Callable[[NDArray[np.int64]], IntArray] | None,
) -> IntArray:
    """The run's costs ``actual_total`` split over the resources: by Shapley values
    of ``coalition_cost`` (which settles each coalition of a ``(2^n, n)`` membership matrix)
    when given, else in proportion to each resource's absolute deviation ``(n, T)``."""
    n = deviation.shape[0]
    weights = np.abs(deviation).sum(axis=1)
    if coalition_cost is None or n == 0:
        return pro_rata(actual_total, weights)
    costs = coalition_cost(coalition_matrix(n))
    phi = shapley(costs)
    rest = Fraction(actual_total) - sum(phi)
    whole = int(weights.sum())
    shares = [
        p + rest * (Fraction(int(weights[i]), whole) if whole else Fraction(1, n))
        for i, p in enumerate(phi)
    ]
    return largest_remainder(actual_total, shares)


REVENUE_COLUMNS = (engine.DAY_AHEAD, engine.INTRADAY, engine.CFD)
COST_COLUMNS = (engine.IMBALANCE, engine.DEVIATION, "fees")


def coalition_costs(
    rules: Settlement, prices: Mapping[str, list[int]], sched: IntArray, meter: IntArray
) -> Callable[[NDArray[np.int64]], IntArray]:
    """The costs (imbalance, deviation penalty, fees) of each coalition of a membership matrix,
    settled alone under ``rules`` and a run's ``prices`` [ticks of ``engine.PRICE_TICK``]."""
    tick, step = float(engine.PRICE_TICK), float(rules.energy_step_mwh)
    da = np.asarray(prices["day_ahead"], dtype=np.float64) * tick
    rt = np.asarray(prices["real_time"], dtype=np.float64) * tick
    short = prices.get("real_time_short")
    rt_short = None if short is None else np.asarray(short, dtype=np.float64) * tick

    def costs(members: NDArray[np.int64]) -> IntArray:
        lines = engine.settle_energy(
            EnergyIntervals(
                scheduled_mwh=(members @ sched) * step,
                metered_mwh=(members @ meter) * step,
                day_ahead_price=da,
                real_time_price=rt,
                real_time_short_price=rt_short,
            ),
            rules,
        )
        lines.pop(engine.DAY_AHEAD)
        out: IntArray = engine.total(lines).sum(axis=1)
        return out

    return costs
