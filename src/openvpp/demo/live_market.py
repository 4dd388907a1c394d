"""The demo's live day-ahead market: the two shipped weeks of real PJM prices
(``epftoolbox_PJM_2018-12-11_24.csv``) cycled onto the current dates, so that ``make run`` can
run the whole loop live against the in-process exchange.

Day ``d`` takes the prices of the sample day ``d.toordinal() mod 14``: the same calendar day
always gets the same real day, whatever the date the server starts on. The in-process exchange
clears the demo market's auctions against this series (replay, price taker), and the seed
stores its past days as market data published the afternoon before (13:30 New York time,
like the sample), which automatic bidding's forecast reads. It is a demo device, named as such
in the data's source; no real market publishes these prices on these dates.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from importlib import resources as package_files
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.forecasting.price.data import load_day_matrix
from openvpp.markets.calendar import day_bounds
from openvpp.markets.exchange.imbalance_mode import (
    ImbalanceConfig,
    settlement_ticks,
    synthetic_day,
)
from openvpp.markets.model import Market, Product
from openvpp.simulation.history import to_series

__all__ = [
    "LIVE_MARKET",
    "LIVE_PRODUCT",
    "LIVE_SOURCE",
    "SEEDED_DAYS",
    "cycled_prices",
    "imbalance_frame",
    "price_frame",
    "published_frame",
]

SAMPLE = "epftoolbox_PJM_2018-12-11_24.csv"
LIVE_MARKET, LIVE_PRODUCT = "US-ISO-DA", "H"
LIVE_SOURCE = f"demo: real PJM prices of {SAMPLE} cycled onto the current dates"
SEEDED_DAYS = 21  # the seed stores the prices of this many past days
PUBLISHED = time(13, 30)  # the day-ahead prices of D are known on D-1 at 13:30 New York time
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_US_PER_MIN = 60_000_000


def _sample_rows() -> np.ndarray:
    with package_files.as_file(package_files.files("openvpp.demo").joinpath(SAMPLE)) as path:
        return load_day_matrix(path).prices


def cycled_prices(product: Product, first: date, last: date) -> pd.Series:
    """Hourly prices [USD/MWh] of the local days ``first`` … ``last`` (inclusive) on the
    product's intervals, indexed by UTC interval starts.

    Built in one pass over the whole period (the server builds some 425 days at start-up):
    every interval's value is the sample's value at its local day's row and local hour.
    Products whose grid is not elapsed time from local midnight (longer than an hour), or a
    zone whose clock changes are off the product's grid, go day by day (the calendar's rules).
    """
    if last < first:
        raise ValueError(f"last ({last}) is before first ({first})")
    rows = _sample_rows()
    grid = _elapsed_grid(product, first, last)
    if grid is None:
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        picked = np.stack([rows[d.toordinal() % len(rows)] for d in days])
        return to_series(product, np.array(days, dtype="datetime64[D]"), picked)
    index, ordinal, hour = grid
    values = rows.ravel().take((ordinal % len(rows)) * rows.shape[1] + hour)
    return pd.Series(values, index=index)


def _elapsed_grid(
    product: Product, first: date, last: date
) -> tuple[pd.DatetimeIndex, NDArray[np.int64], NDArray[np.int64]] | None:
    """The product's interval starts [UTC] of the local days ``first`` … ``last`` with each
    one's local day (proleptic ordinal) and local wall-clock hour, as the calendar builds them
    day by day; None when it must decide (see :func:`cycled_prices`)."""
    if 60 % product.period_min:
        return None
    step = product.period_min * _US_PER_MIN
    n_days = (last - first).days + 1
    # local midnights [us since the epoch, UTC], the last one ending the period
    bounds = np.array(
        [
            (day_bounds(first + timedelta(days=i), product.time_zone)[0] - _EPOCH) // _US
            for i in range(n_days + 1)
        ],
        dtype=np.int64,
    )
    if ((bounds - bounds[0]) % step).any():  # a day not a whole number of intervals
        return None
    utc = bounds[0] + step * np.arange((bounds[-1] - bounds[0]) // step, dtype=np.int64)
    day = np.searchsorted(bounds, utc, side="right") - 1
    index = pd.DatetimeIndex(utc.astype("datetime64[us]")).tz_localize("UTC")
    wall = index.tz_convert(product.time_zone).tz_localize(None).asi8  # [us]
    hour = (wall % (24 * 60 * _US_PER_MIN)) // (60 * _US_PER_MIN)
    return index, first.toordinal() + day, hour


def price_frame(product: Product, first: date, last: date, area: str) -> pd.DataFrame:
    """The cycled prices of ``first`` … ``last`` as market data rows (the layout of
    ``MarketDataService.store``), each known on the afternoon before its day."""
    prices = cycled_prices(product, first, last)
    zone = ZoneInfo(product.time_zone)
    local_day = pd.DatetimeIndex(prices.index).tz_convert(zone).date
    known = [
        datetime.combine(d - timedelta(days=1), PUBLISHED, zone).astimezone(ZoneInfo("UTC"))
        for d in local_day
    ]
    return pd.DataFrame(
        {
            "market": LIVE_MARKET,
            "area": area,
            "product": product.code,
            "series": "price",
            "start": prices.index,
            "period_min": product.period_min,
            "value": prices.to_numpy(),
            "unit": "USD/MWh",
            "known_at": pd.DatetimeIndex(known),
        }
    )


def imbalance_frame(
    market: Market, product: Product, first: date, last: date, area: str
) -> pd.DataFrame:
    """Synthetic imbalance prices of the demo's days ``first`` … ``last`` (the exchange's
    imbalance model over the cycled day-ahead prices, seed 0) as market data rows of product
    ``IMB`` (``imbalance_long`` / ``imbalance_short``), each known at the end of its
    interval, as a system operator publishes them: what the demo's settlement runs price
    deviations at."""
    prices = cycled_prices(product, first, last)
    zone = ZoneInfo(product.time_zone)
    local_day = pd.DatetimeIndex(prices.index).tz_convert(zone).date
    config = ImbalanceConfig()
    tick = float(market.price_tick)
    rows = []
    for day in sorted(set(local_day)):
        values = prices.to_numpy()[local_day == day]
        ticks = np.rint(values / tick).astype(np.int64)
        settle, da = settlement_ticks(market, product, day, ticks)
        for p in synthetic_day(market, day, settle, da, config, LIVE_SOURCE).periods:
            base = {
                "market": market.code,
                "area": area,
                "product": "IMB",
                "start": p.delivery_start,
                "period_min": int((p.delivery_end - p.delivery_start) / timedelta(minutes=1)),
                "unit": f"{market.currency}/MWh",
                "known_at": p.delivery_end,
            }
            rows.append({**base, "series": "imbalance_short", "value": float(p.short_price)})
            rows.append({**base, "series": "imbalance_long", "value": float(p.long_price)})
    frame = pd.DataFrame(rows)
    for column in ("start", "known_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def published_frame(
    market: Market,
    product: Product,
    area: str,
    now: datetime,
    *,
    prices_from: date,
    imbalance_from: date,
) -> pd.DataFrame | None:
    """The demo market's rows public at ``now``, from the given local days on: the day-ahead
    prices of every day published by then (a day's on its eve at 13:30 New York time), and the
    synthetic imbalance prices through tomorrow, each known at its interval's end (stored
    ahead: a settlement run reads only what is known at its time). None when nothing is due.
    """
    tomorrow = now.astimezone(ZoneInfo(product.time_zone)).date() + timedelta(days=1)
    parts = []
    if prices_from <= tomorrow:
        prices = price_frame(product, prices_from, tomorrow, area)
        parts.append(prices[prices["known_at"] <= now])
    if imbalance_from <= tomorrow:
        parts.append(imbalance_frame(market, product, imbalance_from, tomorrow, area))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else None
