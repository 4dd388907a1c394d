"""UTC history frames as local delivery-day matrices, and back.

Day-ahead markets trade local days. A history frame (see :mod:`openvpp.forecasting.protocol`)
is indexed in UTC; here its values are averaged per local (date, hour) in the market's time
zone ``tz``, which also brings sub-hourly steps (15 or 30 min) to hourly values. Daylight
saving time:

- a 23-hour day (clocks forward) has no value for the skipped local hour; it is filled by
  linear interpolation between the hours either side;
- a 25-hour day (clocks back) has two values for the repeated local hour; they are averaged.

Forecasts of a local day are mapped back to the requested UTC times by their local date and
hour (on a 25-hour day both repeated hours get that hour's forecast).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.forecasting.protocol import TARGET

__all__ = ["LocalDays", "to_local_days", "values_at"]

FloatArray = NDArray[np.float64]
HOURS = 24


@dataclass(frozen=True, slots=True)
class LocalDays:
    """Hourly values per local day.

    prices : ``(n_days, 24)`` [currency/MWh]; NaN where the price is not known.
    exogenous : ``(n_days, 24, k)`` [column units]; NaN where missing.
    dates : ``(n_days,)`` consecutive local dates (``datetime64[D]``).
    """

    prices: FloatArray
    exogenous: FloatArray
    dates: NDArray[np.datetime64]

    @property
    def day_of_week(self) -> NDArray[np.int64]:
        """Monday = 0 ... Sunday = 6."""
        return ((self.dates.astype(np.int64) + 3) % 7).astype(np.int64)


def _check_step(index: pd.DatetimeIndex) -> None:
    if len(index) < 2:
        raise ValueError("history needs at least two rows")
    steps = np.unique(np.diff(index.asi8))
    hour = pd.Timedelta(hours=1).value
    if steps.size != 1 or steps[0] > hour or hour % steps[0]:
        raise ValueError(
            "history must be on one regular step that divides an hour (e.g. 1 h, 15 min), "
            f"got steps {[str(pd.Timedelta(int(s))) for s in steps[:3]]}"
        )


def to_local_days(history: pd.DataFrame, tz: str, extra_days: int = 0) -> LocalDays:
    """Local-day matrices of ``history`` (``target`` and exogenous columns) in ``tz``.

    The days run from the first to the last local date in the index, plus ``extra_days``
    days after it (all NaN prices; exogenous values where the frame reaches them).
    Raises ``ValueError`` on an irregular step or non-numeric columns.
    """
    _check_step(pd.DatetimeIndex(history.index))
    local = pd.DatetimeIndex(history.index).tz_convert(tz)
    try:
        values = history.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"history columns must be numeric: {exc}") from exc
    cols = [TARGET, *[c for c in history.columns if c != TARGET]]
    dates = local.tz_localize(None).normalize()
    grouped = values[cols].groupby([dates, local.hour]).mean()
    first = dates.min()
    all_dates = pd.date_range(first, dates.max() + pd.Timedelta(days=extra_days), freq="D")
    full = pd.MultiIndex.from_product([all_dates, range(HOURS)])
    table = grouped.reindex(full)
    # A skipped DST hour: interpolate inside a day that has values on both sides only.
    filled = table.interpolate(method="linear", limit=1, limit_area="inside")
    gap = _dst_gaps(all_dates, tz)
    table = table.where(np.repeat(~gap[:, None], table.shape[1], axis=1), filled)
    cube = table.to_numpy(dtype=np.float64).reshape(len(all_dates), HOURS, len(cols))
    return LocalDays(
        prices=np.ascontiguousarray(cube[:, :, 0]),
        exogenous=np.ascontiguousarray(cube[:, :, 1:]),
        dates=all_dates.to_numpy().astype("datetime64[D]"),
    )


def _dst_gaps(dates: pd.DatetimeIndex, tz: str) -> NDArray[np.bool_]:
    """``(n_days * 24,)`` true at local hours that do not exist (clocks moved forward)."""
    hours = np.tile(np.arange(HOURS), len(dates)) * np.timedelta64(1, "h")
    stamps = pd.DatetimeIndex(np.repeat(dates.to_numpy(), HOURS) + hours)
    # Repeated (ambiguous) hours exist; only skipped hours become NaT.
    localized = stamps.tz_localize(tz, ambiguous=True, nonexistent="NaT")
    return np.asarray(localized.isna(), dtype=np.bool_)


def values_at(
    index: pd.DatetimeIndex, tz: str, dates: NDArray[np.datetime64], values: FloatArray
) -> FloatArray:
    """Values ``(n_days, 24, m)`` of local days ``dates`` at the UTC times ``index``,
    ``(len(index), m)``. Raises ``ValueError`` for a time outside ``dates``."""
    local = index.tz_convert(tz)
    day = local.tz_localize(None).normalize().to_numpy().astype("datetime64[D]")
    row = (day - dates[0]).astype(np.int64)
    if np.any((row < 0) | (row >= len(dates))):
        raise ValueError("a requested time falls outside the forecast days")
    return np.asarray(values[row, local.hour.to_numpy()], dtype=np.float64)
