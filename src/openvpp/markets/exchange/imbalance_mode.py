"""Imbalance (real-time) prices published by the simulated exchange (pure functions).

Per market and local day, on the market's settlement grid (``settlement.period_min``; 92, 96 or
100 quarter-hours on DST days):

- from **real-time history** when one is configured for the market
  (:class:`RealTimeSource`): the time-weighted mean of the history over each settlement
  interval (:func:`~openvpp.markets.imbalance.align_to_grid`), rounded to the price tick (half to
  even); one series gives single pricing, a second ``long`` series dual pricing. The spacing
  of the history is taken per day (:func:`day_window`), so a series that changes resolution
  (hourly, later quarter-hourly) serves the days of both;
- else **synthetic** (:func:`synthetic_day`): day-ahead prices [ticks] laid onto the settlement
  grid (hourly prices repeat) and priced by
  :func:`~openvpp.markets.imbalance.synthetic_imbalance_prices` with an
  :class:`~openvpp.markets.imbalance.ImbalanceModel` and a seed derived from the configured
  seed, the market code and the day (:func:`day_seed`): the same (seed, market, day) always
  gives the same prices, independent of the order of requests.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.markets.calendar import DeliveryInterval, delivery_intervals
from openvpp.markets.exchange.model import ImbalancePeriod, ImbalanceResult
from openvpp.markets.imbalance import ImbalanceModel, align_to_grid, synthetic_imbalance_prices
from openvpp.markets.model import Market, Product
from openvpp.markets.replay import clearing_limits_ticks

__all__ = [
    "ImbalanceConfig",
    "RealTimeSource",
    "day_seed",
    "day_window",
    "real_time_day",
    "settlement_ticks",
    "spacing_min",
    "synthetic_day",
]

IntArray = NDArray[np.int64]
_MINUTE = pd.Timedelta(minutes=1)


def spacing_min(index: pd.DatetimeIndex) -> int | None:
    """Most common distance between consecutive starts of a sorted index [min], ``None`` for
    fewer than two starts; ``ValueError`` when it is not a whole, positive number of minutes."""
    if len(index) < 2:
        return None
    diffs = np.asarray((index[1:] - index[:-1]) / _MINUTE, dtype=np.float64)
    steps, counts = np.unique(diffs, return_counts=True)
    step = float(steps[np.argmax(counts)])
    if step < 1 or step != round(step):
        raise ValueError(f"history spacing of {step:g} min is not a whole number of minutes")
    return int(step)


def day_window(prices: pd.Series, start: datetime, end: datetime) -> tuple[pd.Series, int | None]:
    """The values of ``prices`` (tz-aware interval starts) that start in ``[start, end)``, with a
    sorted UTC index, and their spacing [min] (:func:`spacing_min`; ``None`` for fewer than two
    values). Taking the spacing per day window lets one series change resolution between days.
    """
    index = prices.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError("prices must be indexed by tz-aware interval starts")
    utc = prices.set_axis(index.tz_convert("UTC"))
    if not utc.index.is_monotonic_increasing:
        utc = utc.sort_index(kind="stable")
    starts = pd.DatetimeIndex(utc.index)
    lo = starts.searchsorted(pd.Timestamp(start))
    hi = starts.searchsorted(pd.Timestamp(end))
    return utc.iloc[lo:hi], spacing_min(starts[lo:hi])


@dataclass(frozen=True, slots=True, eq=False)
class RealTimeSource:
    """Real-time / imbalance price history of a market [currency/MWh], indexed by tz-aware
    interval starts: ``short`` settles negative deviations, ``long`` (optional, dual pricing)
    positive ones; without ``long`` both sides use ``short`` (single pricing)."""

    short: pd.Series
    long: pd.Series | None = None

    def __post_init__(self) -> None:
        for name in ("short", "long"):
            series = getattr(self, name)
            if series is None:
                continue
            if not isinstance(series, pd.Series):
                raise ValueError(f"real-time {name} prices must be a pandas Series")
            index = series.index
            if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
                raise ValueError(f"real-time {name} prices need tz-aware interval starts")
            object.__setattr__(self, name, series.copy())


@dataclass(frozen=True, slots=True, eq=False)
class ImbalanceConfig:
    """Imbalance prices of a :class:`~openvpp.markets.exchange.SimulatedExchange`.

    model : the synthetic model (spreads [currency/MWh], volatility [MW], single/dual scheme).
    seed : base seed of the synthetic prices [1].
    real_time : ``market -> series`` [currency/MWh] of real-time prices (single pricing), or a
        :class:`RealTimeSource` for dual pricing; copied.
    """

    model: ImbalanceModel = field(default_factory=ImbalanceModel)
    seed: int = 0
    real_time: Mapping[str, pd.Series | RealTimeSource] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if type(self.seed) is not int or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        sources = {
            code: src if isinstance(src, RealTimeSource) else RealTimeSource(src)
            for code, src in self.real_time.items()
        }
        object.__setattr__(self, "real_time", MappingProxyType(sources))


def day_seed(seed: int, market: str, day: date) -> int:
    """Seed of the synthetic prices of ``market`` on ``day``: stable across processes (CRC-32
    of the market code, not ``hash``), different per market and day [1]."""
    mixed = np.random.SeedSequence([seed, zlib.crc32(market.encode()), day.toordinal()])
    return int(mixed.generate_state(1, dtype=np.uint64)[0])


def _to_ticks(values: NDArray[np.float64], tick: Decimal) -> IntArray:
    return np.rint(np.round(values / float(tick), 6)).astype(np.int64)


def settlement_ticks(
    market: Market, product: Product, day: date, ticks: IntArray
) -> tuple[list[DeliveryInterval], IntArray]:
    """Day-ahead prices [ticks] of the product's intervals of ``day`` laid onto the market's
    settlement grid: the time-weighted mean over each settlement interval, rounded half to even
    (coarser prices repeat exactly). Returns the settlement intervals and the prices."""
    grid = delivery_intervals(product, day)
    if len(grid) != len(ticks):
        raise ValueError(f"{len(ticks)} prices for {len(grid)} intervals of {day}")
    settle = delivery_intervals(market, day)
    series = pd.Series(
        np.asarray(ticks, dtype=np.float64),
        index=pd.DatetimeIndex([iv.start_utc for iv in grid]),
    )
    mean = align_to_grid(series, settle, source_period_min=product.period_min)
    return settle, np.rint(np.round(mean, 6)).astype(np.int64)


def synthetic_day(
    market: Market,
    day: date,
    settle: list[DeliveryInterval],
    da_ticks: IntArray,
    config: ImbalanceConfig,
    reference: str,
) -> ImbalanceResult:
    """Synthetic imbalance prices of ``day`` from day-ahead prices [ticks] per settlement
    interval; deterministic per (``config.seed``, market, day)."""
    lo, hi = clearing_limits_ticks(market)
    prices = synthetic_imbalance_prices(
        da_ticks,
        config.model,
        seed=day_seed(config.seed, market.code, day),
        price_tick=market.price_tick,
        price_min=lo,
        price_max=hi,
    )
    tick = market.price_tick
    periods = tuple(
        ImbalancePeriod(
            iv.start_utc,
            iv.end_utc,
            Decimal(int(s)) * tick,
            Decimal(int(lg)) * tick,
            day_ahead_price=Decimal(int(d)) * tick,
            system_imbalance_mw=Decimal(f"{float(x):.3f}"),
        )
        for iv, s, lg, d, x in zip(
            settle, prices.short, prices.long, prices.day_ahead, prices.system_mw, strict=True
        )
    )
    return ImbalanceResult(
        market.code,
        day,
        market.settlement.period_min,
        prices.scheme.value,
        "synthetic",
        reference,
        periods,
    )


def _real_time_ticks(market: Market, settle: list[DeliveryInterval], prices: pd.Series) -> IntArray:
    """The day's real-time prices [ticks] on the settlement grid, with the spacing of the
    day's own values (the series' overall spacing, else the settlement period, when the day
    has fewer than two)."""
    window, step = day_window(prices, settle[0].start_utc, settle[-1].end_utc)
    if step is None:
        whole = pd.DatetimeIndex(prices.index).tz_convert("UTC").sort_values()
        step = spacing_min(whole) or market.settlement.period_min
    return _to_ticks(align_to_grid(window, settle, source_period_min=step), market.price_tick)


def real_time_day(market: Market, day: date, source: RealTimeSource) -> ImbalanceResult:
    """Imbalance prices of ``day`` from real-time history; ``ValueError`` naming the first
    settlement interval the history does not cover."""
    settle = delivery_intervals(market, day)
    tick = market.price_tick
    short = _real_time_ticks(market, settle, source.short)
    long = short if source.long is None else _real_time_ticks(market, settle, source.long)
    periods = tuple(
        ImbalancePeriod(iv.start_utc, iv.end_utc, Decimal(int(s)) * tick, Decimal(int(lg)) * tick)
        for iv, s, lg in zip(settle, short, long, strict=True)
    )
    scheme = "single" if source.long is None else "dual"
    return ImbalanceResult(
        market.code, day, market.settlement.period_min, scheme, "real_time", None, periods
    )
