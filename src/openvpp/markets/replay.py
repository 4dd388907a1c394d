"""Historical replay: clear the VPP's orders against real market history (pure, vectorized).

Two modes, both on integer **price ticks** and integer **lots** like
:mod:`openvpp.markets.clearing.auction`:

- **Price taker** (:func:`replay_price_taker`): the VPP is too small to move the price. Each
  supply row priced at or below the period's historical price and each demand row priced at or
  above it is accepted **fully** at the historical price; the others are rejected. Periods
  without a historical price accept nothing.
- **Residual book** (:func:`replay_residual_book`): around each historical price ``p`` a
  deterministic synthetic order book of the rest of the market is built
  (:func:`residual_book`, parameters :class:`ResidualBookParams`) and cleared together with the
  VPP's rows by :func:`~openvpp.markets.clearing.auction.clear_day`. Without VPP rows the
  residual book clears at exactly ``p`` with volume ``depth_lots`` under **every** price rule,
  because its valid price range is ``[p, p]`` (see :func:`residual_book`); large VPP orders move
  the price along the synthetic curves.

VPP rows use the row layout of :func:`~openvpp.markets.clearing.auction.clear_orders` plus a
period index: ``periods`` (index in the day), ``sides`` (:class:`Side` codes, 0 supply, 1
demand), ``prices`` [ticks], ``lots`` [lots] and optional ``ids``. Historical prices are one
value per period [ticks]; a missing price is ``None`` (in a sequence), ``NaN`` (in a float
array) or masked (in a ``numpy.ma`` array). :func:`history_to_ticks` builds them from a pandas
Series [currency/MWh]. The net position is supply minus demand accepted [lots]: positive means
the VPP sells (injects) on balance. Inputs are never mutated; nothing is random unless a seed is
given, and the same seed gives the same book.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from openvpp.markets.calendar import delivery_intervals
from openvpp.markets.clearing.auction import PriceRule, Side, as_int_array, clear_day, to_ticks
from openvpp.markets.model import Market

__all__ = [
    "PriceTakerResult",
    "ResidualBook",
    "ResidualBookParams",
    "ResidualReplayResult",
    "clearing_limits_ticks",
    "history_to_ticks",
    "replay_price_taker",
    "replay_residual_book",
    "residual_book",
]

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
_IS_NONE = np.frompyfunc(lambda v: v is None, 1, 1)


# ------------------------------------------------------------------------------------ inputs


def _history(history: ArrayLike | Sequence[int | None]) -> tuple[IntArray, BoolArray]:
    """Historical prices [ticks] with missing values as 0, and the mask of present ones."""
    if isinstance(history, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(history).copy()
        raw = np.asarray(history.filled(0))
    else:
        raw = np.asarray(history)
        if raw.dtype == object:
            mask = np.asarray(_IS_NONE(raw), dtype=bool)
            raw = np.where(mask, 0, raw)
        else:
            mask = np.zeros(raw.shape, dtype=bool)
    if raw.ndim != 1:
        raise ValueError(f"historical prices must be one-dimensional, got shape {raw.shape}")
    if raw.dtype.kind not in "iu":
        try:
            values = raw.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError("historical prices must be numbers of ticks or None") from None
        mask = mask | np.isnan(values)
        raw = np.where(mask, 0.0, values)
    ticks = as_int_array(raw, "historical prices", copy=True)
    return np.where(mask, 0, ticks), ~mask


@dataclass(frozen=True, slots=True)
class _Rows:
    periods: IntArray
    supply: BoolArray
    prices: IntArray
    lots: IntArray
    ids: IntArray


def _rows(
    periods: ArrayLike,
    sides: ArrayLike,
    prices: ArrayLike,
    lots: ArrayLike,
    ids: ArrayLike | None,
    n_periods: int,
) -> _Rows:
    per = as_int_array(periods, "periods", copy=True)
    sd = as_int_array(sides, "sides", copy=True)
    p = as_int_array(prices, "prices", copy=True)
    q = as_int_array(lots, "lots", copy=True)
    i = np.arange(p.size, dtype=np.int64) if ids is None else as_int_array(ids, "ids", copy=True)
    if not per.shape == sd.shape == p.shape == q.shape == i.shape:
        raise ValueError("periods, sides, prices, lots and ids must have the same length")
    supply = sd == Side.SUPPLY
    if not np.all(supply | (sd == Side.DEMAND)):
        raise ValueError("sides must be Side.SUPPLY (0) or Side.DEMAND (1)")
    if per.size and (int(per.min()) < 0 or int(per.max()) >= n_periods):
        raise ValueError(f"periods must lie in [0, {n_periods}), got {per.min()}..{per.max()}")
    if q.size and int(q.min()) < 1:
        raise ValueError("lots must be at least 1")
    return _Rows(per, supply, p, q, i)


def _net(rows: _Rows, accepted: IntArray, n_periods: int) -> IntArray:
    net = np.zeros(n_periods, dtype=np.int64)
    np.add.at(net, rows.periods, np.where(rows.supply, accepted, -accepted))
    return net


# ------------------------------------------------------------------------------- price taker


@dataclass(frozen=True, slots=True)
class PriceTakerResult:
    """Price-taker replay of one day.

    ``accepted`` [lots] per VPP row (input order); ``prices`` [ticks] per period (0 where
    ``has_price`` is False); ``net_lots`` per period: supply minus demand accepted [lots].
    """

    accepted: IntArray
    prices: IntArray
    has_price: BoolArray
    net_lots: IntArray

    @property
    def price_list(self) -> list[int | None]:
        """Prices per period [ticks], ``None`` where history has none."""
        return [int(p) if ok else None for p, ok in zip(self.prices, self.has_price, strict=True)]


def replay_price_taker(
    history: ArrayLike | Sequence[int | None],
    periods: ArrayLike,
    sides: ArrayLike,
    prices: ArrayLike,
    lots: ArrayLike,
    ids: ArrayLike | None = None,
) -> PriceTakerResult:
    """Accept the VPP's rows fully at the historical price of their period.

    history : historical clearing price per period [ticks], missing as None/NaN/masked.
    periods, sides, prices, lots, ids : VPP rows (period index, :class:`Side` code, limit price
        [ticks], quantity [lots], order id). A supply row is accepted when its price is at or
        below the period's price, a demand row when at or above it.
    """
    hist, has = _history(history)
    rows = _rows(periods, sides, prices, lots, ids, hist.size)
    p = hist[rows.periods]
    ok = has[rows.periods] & np.where(rows.supply, rows.prices <= p, rows.prices >= p)
    accepted = np.where(ok, rows.lots, 0).astype(np.int64)
    return PriceTakerResult(accepted, hist, has, _net(rows, accepted, hist.size))


# ----------------------------------------------------------------------------- residual book


@dataclass(frozen=True, slots=True)
class ResidualBookParams:
    """Shape of the synthetic residual book around each historical price ``p``.

    depth_lots : volume the residual book clears at ``p`` without the VPP [lots], at least 1.
    steps : number of price steps of ``step_ticks`` on each side of ``p`` [1].
    step_lots : width of each step [lots]; the curves' slope is ``step_lots / step_ticks``
        [lots/tick].
    step_ticks : price spacing of the steps [ticks].
    noise : relative noise on step widths [1], 0 to 1: each width is
        ``max(1, round(step_lots * (1 + noise * u)))`` with ``u`` uniform in [-1, 1].
    seed : seed of the ``numpy.random.Generator`` drawing that noise (same seed, same book).
    price_rule : price rule of the clearing; any rule reproduces ``p`` without the VPP.
    """

    depth_lots: int
    steps: int = 20
    step_lots: int = 10
    step_ticks: int = 100
    noise: float = 0.0
    seed: int | None = None
    price_rule: PriceRule = PriceRule.MIDPOINT

    def __post_init__(self) -> None:
        for name in ("depth_lots", "step_lots", "step_ticks"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if type(self.steps) is not int or self.steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {self.steps!r}")
        if not 0.0 <= self.noise <= 1.0:
            raise ValueError(f"noise must lie in [0, 1], got {self.noise!r}")
        if self.noise and self.seed is None:
            raise ValueError("noise needs a seed (the residual book must be reproducible)")
        PriceRule(self.price_rule)


@dataclass(frozen=True, slots=True)
class ResidualBook:
    """Synthetic rows of the rest of the market: per side ``(periods, prices [ticks], lots)``."""

    supply_periods: IntArray
    supply_prices: IntArray
    supply_lots: IntArray
    demand_periods: IntArray
    demand_prices: IntArray
    demand_lots: IntArray


def residual_book(
    history: ArrayLike | Sequence[int | None],
    params: ResidualBookParams,
    *,
    price_min: int,
    price_max: int,
) -> ResidualBook:
    """The residual book of every period with a historical price ``p`` [ticks].

    Supply (demand mirrored, ``k = 1..steps``): steps of ``w`` lots at ``p + k * step_ticks``
    above ``p``; at and below ``p`` steps of ``w`` lots at ``p, p - step_ticks, ...`` for as
    many steps as fit in ``depth_lots - 1`` lots (at most ``steps``), then one base step holding
    the rest of ``depth_lots`` one ``step_ticks`` further down. Cumulative supply at ``p`` is
    ``depth_lots`` exactly, and so is cumulative demand. Prices are clipped to
    ``[price_min, price_max]``.

    Why the book clears at ``p``: supply and demand both have ``depth_lots`` at prices at least
    as good as ``p``, and the next lot on each side is priced strictly worse (or, after
    clipping, ``p`` itself when ``p`` is a limit), so the volume is ``depth_lots``; rows at
    ``p`` are accepted on both sides, so ``lo >= p`` and ``hi <= p``: the valid range is
    ``[p, p]`` and every price rule yields ``p``.
    """
    hist, has = _history(history)
    return _residual_rows(hist, has, params, int(price_min), int(price_max))


def _residual_rows(
    hist: IntArray, has: BoolArray, params: ResidualBookParams, lo_lim: int, hi_lim: int
) -> ResidualBook:
    if lo_lim > hi_lim:
        raise ValueError(f"price_min {lo_lim} above price_max {hi_lim}")
    if np.any(has & ((hist < lo_lim) | (hist > hi_lim))):
        bad = int(np.flatnonzero(has & ((hist < lo_lim) | (hist > hi_lim)))[0])
        raise ValueError(
            f"historical price {int(hist[bad])} of period {bad} outside [{lo_lim}, {hi_lim}]"
        )
    per = np.flatnonzero(has).astype(np.int64)
    n, k = per.size, params.steps
    rng = np.random.default_rng(params.seed)
    # Step widths: (period, side, inner/outer, step); drawn in one call, so deterministic.
    if params.noise:
        u = rng.uniform(-1.0, 1.0, size=(n, 2, 2, k))
        widths = np.maximum(1, np.rint(params.step_lots * (1.0 + params.noise * u)))
        widths = widths.astype(np.int64)
    else:
        widths = np.full((n, 2, 2, k), params.step_lots, dtype=np.int64)
    depth = params.depth_lots
    offsets = np.arange(k + 1, dtype=np.int64) * params.step_ticks  # 0 .. steps

    sides = []
    for s, sign in ((0, 1), (1, -1)):  # supply rises above p, demand falls below it
        inner = widths[:, s, 0, :]  # at p, p -/+ step, ... inside the depth
        outer = widths[:, s, 1, :]  # beyond p, rejected without the VPP
        cum = np.cumsum(inner, axis=1)
        fits = cum <= depth - 1  # inner steps must leave at least 1 lot for the base step
        inner_used = np.where(fits, inner, 0)
        n_inner = fits.sum(axis=1)
        base = depth - inner_used.sum(axis=1)
        p = hist[per][:, None]
        in_prices = p - sign * offsets[None, :k]  # inner step j at p -/+ j * step_ticks
        base_price = p[:, 0] - sign * offsets[n_inner]
        out_prices = p + sign * offsets[None, 1:]
        prices = np.concatenate((in_prices, base_price[:, None], out_prices), axis=1)
        lots = np.concatenate((inner_used, base[:, None], outer), axis=1)
        periods = np.broadcast_to(per[:, None], lots.shape)
        keep = lots > 0
        sides.append(
            (
                periods[keep].astype(np.int64),
                np.clip(prices[keep], lo_lim, hi_lim).astype(np.int64),
                lots[keep].astype(np.int64),
            )
        )
    (sp, spr, sl), (dp, dpr, dl) = sides
    return ResidualBook(sp, spr, sl, dp, dpr, dl)


@dataclass(frozen=True, slots=True)
class ResidualReplayResult:
    """Residual-book replay of one day.

    ``accepted`` [lots] per VPP row (input order; 0 in periods without history);
    ``prices`` [ticks] cleared per period and ``historical`` [ticks] (both 0 where
    ``has_price`` is False); ``impact = prices - historical`` [ticks]; ``volumes`` cleared per
    period [lots], residual market included; ``net_lots`` per period: VPP supply minus demand
    accepted [lots].
    """

    accepted: IntArray
    prices: IntArray
    historical: IntArray
    has_price: BoolArray
    impact: IntArray
    volumes: IntArray
    net_lots: IntArray


def replay_residual_book(
    history: ArrayLike | Sequence[int | None],
    periods: ArrayLike,
    sides: ArrayLike,
    prices: ArrayLike,
    lots: ArrayLike,
    ids: ArrayLike | None = None,
    *,
    params: ResidualBookParams,
    price_min: int,
    price_max: int,
) -> ResidualReplayResult:
    """Clear the VPP's rows together with the residual book of each period.

    history : historical price per period [ticks], missing as None/NaN/masked; rows in
        periods without a price are not cleared (0 accepted).
    periods, sides, prices, lots, ids : VPP rows as in :func:`replay_price_taker`; prices
        must lie within ``[price_min, price_max]`` [ticks], the market's clearing limits.

    Tie-break against the residual book at equal prices: pro rata in whole lots (the auction's
    rule); residual rows carry ids above every VPP id, so leftover lots go to the VPP first.
    """
    hist, has = _history(history)
    n_periods = hist.size
    rows = _rows(periods, sides, prices, lots, ids, n_periods)
    book = _residual_rows(hist, has, params, int(price_min), int(price_max))
    live = has[rows.periods]
    vs, vd = live & rows.supply, live & ~rows.supply
    first = int(rows.ids.max()) + 1 if rows.ids.size else 0
    n_s, n_d = book.supply_lots.size, book.demand_lots.size
    result = clear_day(
        np.concatenate((rows.periods[vs], book.supply_periods)),
        np.concatenate((rows.prices[vs], book.supply_prices)),
        np.concatenate((rows.lots[vs], book.supply_lots)),
        np.concatenate((rows.periods[vd], book.demand_periods)),
        np.concatenate((rows.prices[vd], book.demand_prices)),
        np.concatenate((rows.lots[vd], book.demand_lots)),
        price_rule=params.price_rule,
        price_min=price_min,
        price_max=price_max,
        supply_ids=np.concatenate((rows.ids[vs], first + np.arange(n_s, dtype=np.int64))),
        demand_ids=np.concatenate((rows.ids[vd], first + np.arange(n_d, dtype=np.int64))),
        n_periods=max(n_periods, 1),
    )
    accepted = np.zeros(rows.prices.size, dtype=np.int64)
    accepted[vs] = result.supply_accepted[: int(vs.sum())]
    accepted[vd] = result.demand_accepted[: int(vd.sum())]
    cleared = np.array([-1 if p is None else p for p in result.prices], dtype=np.int64)
    price = np.where(has, cleared[:n_periods], 0)
    return ResidualReplayResult(
        accepted=accepted,
        prices=price,
        historical=hist,
        has_price=has,
        impact=np.where(has, price - hist, 0),
        volumes=np.where(has, result.volumes[:n_periods], 0),
        net_lots=_net(rows, accepted, n_periods),
    )


# ------------------------------------------------------------------------------- conversions


def clearing_limits_ticks(market: Market) -> tuple[int, int]:
    """The market's clearing price limits [ticks] (``price_min``, ``price_max``)."""
    lim = market.clearing_limits
    lo, hi = to_ticks([float(lim.min), float(lim.max)], market.price_tick)
    return int(lo), int(hi)


def history_to_ticks(
    prices: pd.Series,
    market: Market,
    day: date,
    *,
    product: str | None = None,
) -> IntArray:
    """Historical prices [currency/MWh] of one local delivery day as ticks, one per interval.

    prices : indexed by interval start (tz-aware, any zone; compared in UTC). Entries outside
        the day are ignored. Values must lie on the market's price tick grid.
    product : product code whose period sets the grid; default the market's settlement period.

    ``ValueError`` (naming the instants) for a naive index, duplicate starts, starts inside
    the day that are not on the grid, missing intervals or missing (NaN) values, and prices
    outside the market's clearing limits.
    """
    grid = market.product(product) if product is not None else market
    intervals = delivery_intervals(grid, day)
    starts = pd.DatetimeIndex([iv.start_utc for iv in intervals])
    index = prices.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError("prices must be indexed by tz-aware interval starts (UTC)")
    utc = index.tz_convert("UTC")
    day_start, day_end = pd.Timestamp(intervals[0].start_utc), pd.Timestamp(intervals[-1].end_utc)
    inside = (utc >= day_start) & (utc < day_end)
    sel = utc[inside]
    values = np.asarray(prices.to_numpy()[inside], dtype=np.float64)
    dup = sel[sel.duplicated()]
    if len(dup):
        raise ValueError(f"duplicate price intervals: {[t.isoformat() for t in dup.unique()[:5]]}")
    off_grid = sel[~sel.isin(starts)]
    if len(off_grid):
        raise ValueError(
            f"price intervals not on the {day} delivery grid: "
            f"{[t.isoformat() for t in off_grid[:5]]}"
        )
    pos = starts.get_indexer(sel)
    out = np.full(len(starts), np.nan)
    out[pos] = values
    missing = starts[np.isnan(out)]
    if len(missing):
        raise ValueError(
            f"missing prices for {len(missing)} of {len(starts)} intervals of {day}, first "
            f"{[t.isoformat() for t in missing[:5]]}"
        )
    ticks = to_ticks(out, market.price_tick)
    lo, hi = clearing_limits_ticks(market)
    bad = np.flatnonzero((ticks < lo) | (ticks > hi))
    if bad.size:
        raise ValueError(
            f"price {out[bad[0]]} at {starts[bad[0]].isoformat()} outside the clearing limits "
            f"{market.clearing_limits.min}..{market.clearing_limits.max}"
        )
    return ticks
