"""Historical replay as a venue mode of the simulated exchange (pure functions).

When a (market, product) has a price history, its auction days are cleared against that
history with :mod:`openvpp.markets.replay` instead of against other participants' orders:

- **price taker** (no residual book): every sell order priced at or below the period's
  historical price and every buy order at or above it is filled completely, at the historical
  price (pay-as-clear) or at its own price (pay-as-bid);
- **residual book** (:class:`~openvpp.markets.replay.ResidualBookParams`): the orders are
  cleared together with a synthetic book of the rest of the market around the historical price,
  so large orders move the price.

History grid: the spacing of the history is taken per local day, from that day's own values
(the most common distance between them; the series' overall spacing when the day has fewer
than two), so a series that changes resolution, like SDAC going from 60 to 15 min on
1 October 2025, replays the days of both. When a day's spacing equals the product's period the
day is taken with :func:`~openvpp.markets.replay.history_to_ticks` (strict: every interval of
the local day must be there). Otherwise it is laid onto the product's grid with
:func:`~openvpp.markets.imbalance.align_to_grid`: hourly history repeats over the four
quarter-hours of a ``QH`` product, finer history is averaged over each interval (time-weighted)
and rounded to the price tick. History prices off the market's price tick are rounded to it
(half to even) when the replay is configured; :attr:`ReplaySource.rounded` counts them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import MappingProxyType

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.markets.calendar import delivery_intervals
from openvpp.markets.exchange.clearing import AuctionFill, AuctionOrder
from openvpp.markets.exchange.imbalance_mode import day_window, spacing_min
from openvpp.markets.exchange.model import PeriodResult, TradeSide
from openvpp.markets.imbalance import align_to_grid
from openvpp.markets.model import Market, PricingRule, Product
from openvpp.markets.replay import (
    ResidualBookParams,
    clearing_limits_ticks,
    history_to_ticks,
    replay_price_taker,
    replay_residual_book,
)

__all__ = [
    "ReplayConfig",
    "ReplaySource",
    "clear_replay_day",
    "prepare_history",
    "replay_day_ticks",
]

IntArray = NDArray[np.int64]
ReplayKey = tuple[str, str]


@dataclass(frozen=True, slots=True, eq=False)
class ReplayConfig:
    """Replay configuration of a :class:`~openvpp.markets.exchange.SimulatedExchange`.

    prices : ``(market, product) -> pandas Series`` of historical clearing prices
        [currency/MWh] indexed by tz-aware interval starts (compared in UTC).
    residual : synthetic residual book for every series here; ``None`` = price taker.

    The mapping is copied; the series are copied when the exchange takes them.
    """

    prices: Mapping[ReplayKey, pd.Series] = field(default_factory=dict)
    residual: ResidualBookParams | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "prices", MappingProxyType(dict(self.prices)))


@dataclass(frozen=True, slots=True, eq=False)
class ReplaySource:
    """History of one (market, product), ready for replay.

    prices : [currency/MWh] on the market's price tick, UTC index, sorted (a private copy).
    period_min : overall spacing of the history [min] (most common step; the product's period
        for a single value); each day is replayed with the spacing of its own values.
    residual : residual book parameters, ``None`` for a price taker.
    rounded : number of values that were moved onto the price tick [1].
    """

    prices: pd.Series
    period_min: int
    residual: ResidualBookParams | None
    rounded: int

    @property
    def first(self) -> pd.Timestamp | None:
        """Start of the first interval of history [UTC], ``None`` when empty."""
        return self.prices.index[0] if len(self.prices) else None

    @property
    def last(self) -> pd.Timestamp | None:
        """Start of the last interval of history [UTC], ``None`` when empty."""
        return self.prices.index[-1] if len(self.prices) else None


def prepare_history(
    prices: pd.Series,
    market: Market,
    product: Product,
    residual: ResidualBookParams | None = None,
) -> ReplaySource:
    """Check and normalise a price history [currency/MWh] for replay of ``product``.

    ``ValueError`` for a non-Series, a naive or non-datetime index, duplicate starts or
    non-numeric values. NaN values stay (a day touching one cannot be replayed). The input is
    not modified.
    """
    if not isinstance(prices, pd.Series):
        raise ValueError(f"history must be a pandas Series, got {type(prices).__name__}")
    index = prices.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError("history must be indexed by tz-aware interval starts")
    try:
        values = np.asarray(prices.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("history prices must be numbers [currency/MWh]") from None
    utc = index.tz_convert("UTC")
    if utc.has_duplicates:
        dup = utc[utc.duplicated()]
        raise ValueError(f"duplicate history intervals: {[t.isoformat() for t in dup[:5]]}")
    order = np.asarray(utc.argsort())
    utc, values = utc[order], values[order]
    tick = float(market.price_tick)
    scaled = np.round(values / tick, 6)
    ticks = np.rint(scaled)
    finite = np.isfinite(values)
    rounded = int(np.count_nonzero(finite & (scaled != ticks)))
    on_grid = np.where(finite, ticks * tick, np.nan)
    step = spacing_min(utc)
    period = product.period_min if step is None else step
    series = pd.Series(on_grid, index=utc, name=prices.name, dtype=np.float64)
    return ReplaySource(series, period, residual, rounded)


def replay_day_ticks(source: ReplaySource, market: Market, product: Product, day: date) -> IntArray:
    """Historical prices [ticks] of every interval of the local ``day`` on the product's grid.

    ``ValueError`` (naming the intervals) when history does not cover the whole day or lies
    outside the market's clearing limits.
    """
    intervals = delivery_intervals(product, day)
    window, step = day_window(source.prices, intervals[0].start_utc, intervals[-1].end_utc)
    period = source.period_min if step is None else step
    if period == product.period_min:
        return history_to_ticks(window, market, day, product=product.code)
    values = align_to_grid(window, intervals, source_period_min=period)
    ticks = np.rint(np.round(values / float(market.price_tick), 6)).astype(np.int64)
    lo, hi = clearing_limits_ticks(market)
    bad = np.flatnonzero((ticks < lo) | (ticks > hi))
    if bad.size:
        raise ValueError(
            f"price {values[bad[0]]:g} at {intervals[bad[0]].start_utc.isoformat()} outside the "
            f"clearing limits {market.clearing_limits.min}..{market.clearing_limits.max}"
        )
    return ticks


def clear_replay_day(
    market: Market,
    product: Product,
    day: date,
    orders: Sequence[AuctionOrder],
    source: ReplaySource,
) -> tuple[tuple[PeriodResult, ...], list[AuctionFill]]:
    """Clear the day's orders against history; same results and fills as
    :func:`~openvpp.markets.exchange.clearing.clear_auction_day`.

    Period ``price`` is the historical price (price taker) or the residual book's clearing
    price [currency/MWh]; ``volume_mw`` is the accepted volume of the venue's orders, both sides
    summed (price taker), or the whole cleared volume with the residual market (residual book)
    [MW]; ``historical_price`` and ``price_impact`` [currency/MWh] are set on every period.
    Raises ``ValueError`` when history does not cover the day.
    """
    hist = replay_day_ticks(source, market, product, day)
    intervals = delivery_intervals(product, day)
    n = hist.size
    periods = np.array([o.period for o in orders], dtype=np.int64)
    sides = np.array([0 if o.side is TradeSide.SELL else 1 for o in orders], dtype=np.int64)
    prices = np.array([o.price for o in orders], dtype=np.int64)
    lots = np.array([o.lots for o in orders], dtype=np.int64)
    if source.residual is None:
        taker = replay_price_taker(hist, periods, sides, prices, lots)
        accepted, cleared = taker.accepted, hist
        impact = np.zeros(n, dtype=np.int64)
        volumes = np.zeros(n, dtype=np.int64)
        np.add.at(volumes, periods, accepted)
    else:
        lo, hi = clearing_limits_ticks(market)
        res = replay_residual_book(
            hist,
            periods,
            sides,
            prices,
            lots,
            params=source.residual,
            price_min=lo,
            price_max=hi,
        )
        accepted, cleared, impact, volumes = res.accepted, res.prices, res.impact, res.volumes
    tick, vol = market.price_tick, market.volume_tick_mw
    results = tuple(
        PeriodResult(
            iv.start_utc,
            iv.end_utc,
            Decimal(int(c)) * tick,
            Decimal(int(v)) * vol,
            historical_price=Decimal(int(h)) * tick,
            price_impact=Decimal(int(d)) * tick,
        )
        for iv, c, v, h, d in zip(intervals, cleared, volumes, hist, impact, strict=True)
    )
    pay_as_bid = market.pricing is PricingRule.PAY_AS_BID
    fills = [
        AuctionFill(
            o.venue_order_id,
            int(q),
            Decimal(o.price) * tick if pay_as_bid else Decimal(int(cleared[o.period])) * tick,
        )
        for o, q in zip(orders, accepted.tolist(), strict=True)
        if q > 0
    ]
    return results, fills
