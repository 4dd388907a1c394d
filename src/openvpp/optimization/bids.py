"""Price-quantity bid curves from an optimal schedule evaluated under price scenarios.

The optimizer is seen through a :data:`PriceResponse`: given a price vector ``(T,)``
[currency/MWh] it returns the optimal net schedule ``(T,)`` [MW], positive = injection (a
sale), negative = withdrawal (a purchase). Evaluating it under each price scenario gives, for
each interval ``t``, points ``(price_s[t], schedule_s[t])``; sorted by price and repaired to be
monotone they form the interval's net bid curve (the scenario approach of Fleten & Pettersen,
2005). The net curve is non-decreasing in price: its positive part is a supply curve (sell more
at higher prices), its negative part a demand curve (buy less at higher prices).

The curve is *anchored*: the schedule at the anchor price vector (the per-interval median or
mean of the scenarios) is the expected schedule, and the repaired curve passes exactly through
it, so a market clearing at the anchor prices awards the expected schedule.

Step semantics (the orders of :mod:`openvpp.optimization.formats` implement them): at a
clearing price ``P`` the sold quantity is the curve's positive part at the largest curve price
``<= P`` (0 below the lowest), the bought quantity its negative part at the smallest curve price
``>= P`` (0 above the highest). Both are exact at the curve's prices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import lfilter  # type: ignore[import-untyped]
from scipy.special import ndtr  # type: ignore[import-untyped]

from openvpp.markets.model import Market

__all__ = [
    "BidCurve",
    "BidCurveSet",
    "FloatArray",
    "PriceResponse",
    "aggregate_curves",
    "bid_curves",
    "on_ticks",
    "path_scenarios",
    "quantile_scenarios",
    "repair_monotone",
    "scenario_weights",
    "weighted_median",
]

FloatArray = NDArray[np.float64]
PriceResponse = Callable[[FloatArray], FloatArray]
"""Optimal net schedule ``(T,)`` [MW, + injection] for a price vector ``(T,)`` [currency/MWh]."""

Repair = Literal["anchored", "isotonic"]
Anchor = Literal["median", "mean"]


@dataclass(frozen=True, slots=True)
class BidCurve:
    """One interval's net bid curve.

    prices : ascending, distinct [currency/MWh].
    net_mw : net quantity at each price, non-decreasing [MW, + sell].
    anchor_price : price of the expected schedule [currency/MWh].
    expected_mw : the schedule at the anchor price [MW]; equals the curve there.
    """

    prices: tuple[float, ...]
    net_mw: tuple[float, ...]
    anchor_price: float
    expected_mw: float

    @property
    def steps(self) -> list[tuple[float, float]]:
        """``(price [currency/MWh], net quantity [MW])`` pairs, price ascending."""
        return list(zip(self.prices, self.net_mw, strict=True))

    @property
    def sell_steps(self) -> list[tuple[float, float]]:
        """Supply curve: ``(price, quantity sold [MW] >= 0)``, quantity non-decreasing."""
        return [(p, max(q, 0.0)) for p, q in self.steps]

    @property
    def buy_steps(self) -> list[tuple[float, float]]:
        """Demand curve: ``(price, quantity bought [MW] >= 0)``, quantity non-increasing."""
        return [(p, max(-q, 0.0)) for p, q in self.steps]


@dataclass(frozen=True, slots=True, eq=False)
class BidCurveSet:
    """Net bid curves of ``T`` intervals on ``K`` points each (vectorized form).

    prices : ``(T, K)`` ascending per row; a row may repeat a price (then with equal
        quantities) [currency/MWh].
    net_mw : ``(T, K)`` non-decreasing per row [MW, + sell].
    anchor_price : ``(T,)`` the price vector of the expected schedule [currency/MWh].
    expected_mw : ``(T,)`` the expected schedule [MW]; the curves pass through it.
    repair_mw : ``(T,)`` largest change the monotone repair made to a sampled quantity [MW]
        (a diagnostic: large values mean the scenarios disagree with a per-interval curve,
        e.g. storage whose schedule depends on the whole price vector).
    """

    prices: FloatArray
    net_mw: FloatArray
    anchor_price: FloatArray
    expected_mw: FloatArray
    repair_mw: FloatArray

    def __len__(self) -> int:
        return int(self.prices.shape[0])

    def curve(self, t: int) -> BidCurve:
        """The curve of interval ``t`` with repeated prices collapsed."""
        p, q = self.prices[t], self.net_mw[t]
        keep = np.append(p[1:] != p[:-1], True)
        return BidCurve(
            prices=tuple(float(x) for x in p[keep]),
            net_mw=tuple(float(x) for x in q[keep]),
            anchor_price=float(self.anchor_price[t]),
            expected_mw=float(self.expected_mw[t]),
        )

    @property
    def curves(self) -> tuple[BidCurve, ...]:
        """One :class:`BidCurve` per interval."""
        return tuple(self.curve(t) for t in range(len(self)))

    def net_at(self, price: ArrayLike) -> FloatArray:
        """Net quantity awarded at clearing prices ``price`` ``(T,)`` [currency/MWh] under the
        step semantics of the module docstring [MW, + sell]."""
        p = np.asarray(price, dtype=np.float64).reshape(-1)
        if p.shape[0] != len(self):
            raise ValueError(f"price: expected {len(self)} values, got {p.shape[0]}")
        sell = np.maximum(self.net_mw, 0.0)
        buy = np.maximum(-self.net_mw, 0.0)
        k = self.prices.shape[1]
        rows = np.arange(len(self))
        below = (self.prices <= p[:, None]).sum(axis=1)  # points at or below the price
        above_first = (self.prices < p[:, None]).sum(axis=1)  # first point at or above
        sold = np.where(below > 0, sell[rows, np.maximum(below - 1, 0)], 0.0)
        bought = np.where(above_first < k, buy[rows, np.minimum(above_first, k - 1)], 0.0)
        return np.asarray(sold - bought, dtype=np.float64)


# ------------------------------------------------------------------------------ scenarios


def _quantiles(quantiles: ArrayLike, levels: Sequence[float]) -> tuple[FloatArray, FloatArray]:
    """Checked quantiles ``(Q, T)``, sorted per interval, and their levels ``(Q,)``."""
    q = np.sort(np.asarray(quantiles, dtype=np.float64), axis=0)
    lv = np.asarray(levels, dtype=np.float64)
    if q.ndim != 2 or q.shape[0] != lv.shape[0] or lv.shape[0] < 2:
        raise ValueError("quantiles: expected (Q, T) with Q = len(levels) >= 2")
    if not (np.all(np.diff(lv) > 0) and lv[0] > 0 and lv[-1] < 1):
        raise ValueError(f"levels: must increase strictly within (0, 1), got {list(lv)}")
    if not np.all(np.isfinite(q)):
        raise ValueError("quantiles: must be finite")
    return q, lv


def _at_levels(q: FloatArray, lv: FloatArray, u: FloatArray) -> FloatArray:
    """The quantile function of each interval at levels ``u`` ``(n, T)``: linear in the
    level between the given quantiles and beyond them."""
    j = np.clip(np.searchsorted(lv, u) - 1, 0, lv.shape[0] - 2)
    cols = np.arange(q.shape[1])
    w = (u - lv[j]) / (lv[j + 1] - lv[j])
    return np.asarray(q[j, cols] + w * (q[j + 1, cols] - q[j, cols]), dtype=np.float64)


def quantile_scenarios(quantiles: ArrayLike, levels: Sequence[float], n: int = 21) -> FloatArray:
    """Comonotone price scenarios ``(n, T)`` [currency/MWh] from quantile forecasts.

    quantiles : ``(Q, T)`` price quantiles, e.g. p10/p50/p90 rows [currency/MWh]; crossing
        quantiles are sorted per interval first.
    levels : the ``Q`` probability levels, strictly increasing in (0, 1), e.g. (0.1, 0.5, 0.9).
    n : number of scenarios; scenario ``j`` is the quantile at level ``(j + 0.5) / n`` in every
        interval (linear in the level between the given quantiles and beyond them), so each
        scenario keeps the day's shape. An odd ``n`` includes the median level.
    """
    q, lv = _quantiles(quantiles, levels)
    if n < 1:
        raise ValueError(f"n: must be at least 1, got {n}")
    u = np.repeat(((np.arange(n) + 0.5) / n)[:, None], q.shape[1], axis=1)
    return _at_levels(q, lv, u)


def path_scenarios(
    quantiles: ArrayLike,
    levels: Sequence[float],
    n: int = 24,
    *,
    correlation: float = 0.9,
    seed: int = 0,
) -> FloatArray:
    """Price paths ``(n, T)`` [currency/MWh] whose intervals move partly together.

    Each interval keeps the marginal distribution of its quantiles (the quantile function of
    :func:`quantile_scenarios`); the levels of consecutive intervals are tied by a Gaussian
    copula with an AR(1) latent path, ``correlation`` between consecutive intervals (1: the
    comonotone scenarios, 0: independent intervals). Paths come in antithetic pairs (latent
    ``z`` and ``-z``), so with an even ``n`` the forecast's median is a median of the paths in
    every interval; ``seed`` makes them reproducible. Unlike comonotone scenarios, which shift
    the whole day together, these vary the day's *shape*, which is what storage earns from.
    """
    q, lv = _quantiles(quantiles, levels)
    if n < 2:
        raise ValueError(f"n: must be at least 2, got {n}")
    if not 0.0 <= correlation <= 1.0:
        raise ValueError(f"correlation: must lie in [0, 1], got {correlation}")
    t_n = q.shape[1]
    half = (n + 1) // 2
    eps = np.random.default_rng(seed).standard_normal((half, t_n))
    innovation = np.sqrt(1.0 - correlation**2)
    if innovation > 0:
        eps[:, 0] /= innovation  # a stationary start: every z_t has unit variance
        z = lfilter([innovation], [1.0, -correlation], eps, axis=1)
    else:
        z = np.repeat(eps[:, :1], t_n, axis=1)
    z = np.concatenate([z, -z])[:n]
    return _at_levels(q, lv, ndtr(z))


def on_ticks(prices: ArrayLike, market: Market) -> FloatArray:
    """``prices`` on the market's price ticks (half to even) within its clearing limits."""
    tick = float(market.price_tick)
    lo, hi = float(market.clearing_limits.min), float(market.clearing_limits.max)
    p = np.asarray(prices, dtype=np.float64)
    # round(.., 9) drops the float noise of ``k * tick`` (e.g. 40.900000000000006)
    return np.asarray(np.clip(np.round(np.round(p / tick) * tick, 9), lo, hi), dtype=np.float64)


def scenario_weights(weights: ArrayLike | None, s: int) -> FloatArray:
    """Scenario probabilities ``(s,)`` from ``weights`` (equal when ``None``), normalised."""
    if weights is None:
        return np.full(s, 1.0 / s)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != s or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights: expected {s} non-negative finite values, not all zero")
    return np.asarray(w / w.sum(), dtype=np.float64)


def weighted_median(x: FloatArray, w: FloatArray) -> FloatArray:
    """Per-column weighted median of ``x`` ``(S, T)`` (the lower one on a tie)."""
    order = np.argsort(x, axis=0, kind="stable")
    xs = np.take_along_axis(x, order, axis=0)
    cw = np.cumsum(w[order], axis=0)
    idx = (cw < 0.5 - 1e-12).sum(axis=0)
    return np.asarray(xs[np.minimum(idx, x.shape[0] - 1), np.arange(x.shape[1])])


def _evaluate(response: PriceResponse, prices: FloatArray) -> FloatArray:
    out = np.asarray(response(prices.copy()), dtype=np.float64)
    if out.shape != prices.shape or not np.all(np.isfinite(out)):
        raise ValueError(
            f"response: must return finite values [MW] of shape {prices.shape}, got {out.shape}"
        )
    return out


# ------------------------------------------------------------------------------ curves


def repair_monotone(
    prices: ArrayLike,
    net_mw: ArrayLike,
    anchor_index: ArrayLike,
    method: Repair = "anchored",
) -> FloatArray:
    """Non-decreasing version of ``net_mw`` ``(T, K)`` along price-sorted rows [MW].

    ``anchored`` (default, vectorized): the point at ``anchor_index`` ``(T,)`` is kept; above
    it each value becomes the running maximum from the anchor up, below it the running minimum
    from the anchor down. ``isotonic``: the least-squares non-decreasing fit (pool adjacent
    violators, scikit-learn's ``IsotonicRegression``) with the anchor weighted so heavily that
    it moves by less than 1e-6 of the spread.
    Equal prices in a row must already carry equal values.
    """
    p = np.asarray(prices, dtype=np.float64)
    q = np.asarray(net_mw, dtype=np.float64)
    a = np.asarray(anchor_index, dtype=np.int64)
    k = np.arange(q.shape[1])[None, :]
    if method == "anchored":
        up = np.maximum.accumulate(np.where(k >= a[:, None], q, -np.inf), axis=1)
        down = np.minimum.accumulate(np.where(k <= a[:, None], q, np.inf)[:, ::-1], axis=1)
        return np.asarray(np.where(k >= a[:, None], up, down[:, ::-1]), dtype=np.float64)
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression  # optional dependency, heavy import

        out = np.empty_like(q)
        for t in range(q.shape[0]):
            w = np.ones(q.shape[1])
            w[a[t]] = 1e9 * q.shape[1]
            out[t] = IsotonicRegression(increasing=True).fit_transform(p[t], q[t], sample_weight=w)
        return out
    raise ValueError(f"repair: unknown method {method!r}; use 'anchored' or 'isotonic'")


def _build(
    prices: FloatArray,
    net: FloatArray,
    anchor_price: FloatArray,
    expected: FloatArray,
    repair: Repair,
) -> BidCurveSet:
    """Sort the sampled points with the anchor, average equal prices, repair, package."""
    t_n = prices.shape[0]
    p = np.concatenate([anchor_price[:, None], prices], axis=1)
    q = np.concatenate([expected[:, None], net], axis=1)
    is_anchor = np.zeros(p.shape, dtype=bool)
    is_anchor[:, 0] = True
    order = np.lexsort((~is_anchor, p), axis=1)  # by price; the anchor first among equals
    p = np.take_along_axis(p, order, axis=1)
    q = np.take_along_axis(q, order, axis=1)
    is_anchor = np.take_along_axis(is_anchor, order, axis=1)
    # equal prices share one value: the anchor's if it is among them, else their mean
    new_group = np.concatenate([np.ones((t_n, 1), bool), p[:, 1:] != p[:, :-1]], axis=1)
    gid = np.cumsum(new_group, axis=1) - 1 + (np.arange(t_n) * p.shape[1])[:, None]
    flat = gid.ravel()
    sums = np.bincount(flat, weights=q.ravel(), minlength=p.size)
    counts = np.bincount(flat, minlength=p.size)
    anchor_val = np.bincount(flat, weights=np.where(is_anchor, q, 0.0).ravel(), minlength=p.size)
    has_anchor = np.bincount(flat, weights=is_anchor.ravel().astype(float), minlength=p.size) > 0
    group_val = np.where(has_anchor, anchor_val, sums / np.maximum(counts, 1))
    sampled = q
    q = group_val[gid]
    anchor_index = np.argmax(is_anchor, axis=1)
    fixed = repair_monotone(p, q, anchor_index, repair)
    return BidCurveSet(
        prices=p,
        net_mw=fixed,
        anchor_price=anchor_price.copy(),
        expected_mw=expected.copy(),
        repair_mw=np.abs(fixed - sampled).max(axis=1),
    )


def bid_curves(
    scenarios: ArrayLike,
    response: PriceResponse,
    *,
    market: Market | None = None,
    weights: ArrayLike | None = None,
    anchor: Anchor = "median",
    repair: Repair = "anchored",
    batched: bool = False,
) -> BidCurveSet:
    """Bid curves ``(T,)`` from the optimal schedule under each price scenario.

    scenarios : ``(S, T)`` price scenarios [currency/MWh], e.g. from
        :func:`quantile_scenarios` or sampled paths.
    response : the optimizer's :data:`PriceResponse`, called ``S + 1`` times (``S + 3`` with a
        market).
    market : when given, every price is rounded to its price tick (half to even) and clipped
        to its clearing limits, and two flat scenarios at the bid price limits are added, so the
        curves span the whole admissible range (what must be sold or bought at any price).
    weights : scenario probabilities ``(S,)`` (default equal).
    anchor : the price vector of the expected schedule: the per-interval (weighted) ``median``
        or ``mean`` of the scenarios.
    repair : monotone repair of the sampled points (:func:`repair_monotone`).
    batched : call ``response`` once with all price vectors ``(K, T)`` (anchor first), expecting
        ``(K, T)`` back, e.g. ``lambda p: schedule.price_response(units, p, dt_h)``, which
        warm-starts one model over the rows.
    """
    s = np.asarray(scenarios, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] < 1 or s.shape[1] < 1:
        raise ValueError(f"scenarios: expected a non-empty (S, T) array, got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scenarios: prices must be finite")
    w = scenario_weights(weights, s.shape[0])
    if anchor == "median":
        a = weighted_median(s, w)
    elif anchor == "mean":
        a = np.asarray(w @ s, dtype=np.float64)
    else:
        raise ValueError(f"anchor: unknown {anchor!r}; use 'median' or 'mean'")
    if market is not None:
        s, a = on_ticks(s, market), on_ticks(a, market)
        t_n = s.shape[1]
        limits = np.array([float(market.price_limits.min), float(market.price_limits.max)])
        s = np.vstack([s, np.repeat(limits[:, None], t_n, axis=1)])
    if batched:
        out = _evaluate(response, np.vstack([a, s]))
        expected, net = out[0], out[1:]
    else:
        expected = _evaluate(response, a)
        net = np.stack([_evaluate(response, row) for row in s])
    return _build(s.T.copy(), net.T.copy(), a, expected, repair)


def aggregate_curves(curves: BidCurveSet, group: int, repair: Repair = "anchored") -> BidCurveSet:
    """Mean curves of ``group`` consecutive intervals, e.g. 4 quarter-hours to an hour [MW].

    Each curve is evaluated at the union of the group's prices (step semantics of the module
    docstring) and averaged, a monotone operation; the anchor is the mean anchor price and the
    expected schedule the mean expected schedule (the curve is re-anchored there). A local day
    of 92, 96 or 100 quarter-hours gives 23, 24 or 25 hours.
    """
    t_n = len(curves)
    if group < 1 or t_n % group:
        raise ValueError(f"group: {group} must divide the number of intervals {t_n}")
    h = t_n // group
    k = curves.prices.shape[1]
    grid = curves.prices.reshape(h, group * k)  # union of each group's prices
    sell = np.maximum(curves.net_mw, 0.0)
    buy = np.maximum(-curves.net_mw, 0.0)
    members = curves.prices.reshape(h, group, k)
    at_or_below = (members[:, :, :, None] <= grid[:, None, None, :]).sum(axis=2)  # (h, g, M)
    before = (members[:, :, :, None] < grid[:, None, None, :]).sum(axis=2)
    s3 = sell.reshape(h, group, k)
    b3 = buy.reshape(h, group, k)
    sold = np.where(
        at_or_below > 0, np.take_along_axis(s3, np.maximum(at_or_below - 1, 0), axis=2), 0.0
    )
    bought = np.where(before < k, np.take_along_axis(b3, np.minimum(before, k - 1), axis=2), 0.0)
    net = (sold - bought).mean(axis=1)
    anchor = curves.anchor_price.reshape(h, group).mean(axis=1)
    expected = curves.expected_mw.reshape(h, group).mean(axis=1)
    return _build(grid.copy(), net, anchor, expected, repair)
