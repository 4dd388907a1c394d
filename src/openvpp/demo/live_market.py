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

from datetime import date, datetime, time, timedelta
from importlib import resources as package_files
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from openvpp.forecasting.price.data import load_day_matrix
from openvpp.markets.model import Product
from openvpp.simulation.history import to_series

__all__ = ["LIVE_MARKET", "LIVE_PRODUCT", "LIVE_SOURCE", "cycled_prices", "price_frame"]

SAMPLE = "epftoolbox_PJM_2018-12-11_24.csv"
LIVE_MARKET, LIVE_PRODUCT = "US-ISO-DA", "H"
LIVE_SOURCE = f"demo: real PJM prices of {SAMPLE} cycled onto the current dates"
PUBLISHED = time(13, 30)  # the day-ahead prices of D are known on D-1 at 13:30 New York time


def _sample_rows() -> np.ndarray:
    with package_files.as_file(package_files.files("openvpp.demo").joinpath(SAMPLE)) as path:
        return load_day_matrix(path).prices


def cycled_prices(product: Product, first: date, last: date) -> pd.Series:
    """Hourly prices [USD/MWh] of the local days ``first`` … ``last`` (inclusive) on the
    product's intervals, indexed by UTC interval starts."""
    rows = _sample_rows()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    picked = np.stack([rows[d.toordinal() % len(rows)] for d in days])
    return to_series(product, np.array(days, dtype="datetime64[D]"), picked)


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
