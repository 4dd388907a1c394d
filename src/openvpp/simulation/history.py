"""Hourly day matrices (epftoolbox layout: 24 values per day, DST days normalised) laid onto a
market's local delivery days, where a day has 23, 24 or 25 hours.

The value of an interval is the day row's value at the interval's local wall-clock hour: the
hour skipped in spring is dropped, the hour repeated in autumn takes the same value twice. A
product finer than an hour repeats the hour over its intervals.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.markets.calendar import delivery_index
from openvpp.markets.model import Product

__all__ = ["day_values", "local_hours", "to_series"]

FloatArray = NDArray[np.float64]


def local_hours(product: Product, day: date) -> tuple[pd.DatetimeIndex, NDArray[np.int64]]:
    """Interval starts of the local ``day`` (labelled in the product's zone) and the local
    wall-clock hour of each [0..23]."""
    index = delivery_index(product, day)
    return index, np.asarray(index.hour, dtype=np.int64)


def day_values(product: Product, day: date, row: FloatArray) -> pd.Series:
    """One day's 24 hourly values ``row`` (last axis) on the product's intervals of the local
    ``day``: a Series indexed by UTC interval starts (2-D rows give a DataFrame)."""
    values = np.asarray(row, dtype=np.float64)
    if values.shape[0] != 24:
        raise ValueError(f"a day row has 24 hourly values, got {values.shape[0]}")
    index, hours = local_hours(product, day)
    utc = index.tz_convert("UTC")
    picked = values[hours]
    if picked.ndim == 1:
        return pd.Series(picked, index=utc)
    return pd.DataFrame(picked, index=utc)  # type: ignore[return-value]


def to_series(product: Product, dates: NDArray[np.datetime64], rows: FloatArray) -> pd.Series:
    """Days of 24 hourly values ``rows (n_days, 24)`` on the product's local delivery days:
    one Series indexed by UTC interval starts."""
    parts = [
        day_values(product, pd.Timestamp(d).date(), r) for d, r in zip(dates, rows, strict=True)
    ]
    return pd.concat(parts) if parts else pd.Series(dtype=np.float64)
