"""epftoolbox-layout price files as day matrices.

An epftoolbox file (Lago et al. 2021) has one row per hour: a timestamp, the price, then any
number of exogenous day-ahead forecasts (load, wind, generation ...). Column names differ from
file to file, so columns are taken by position. Daylight-saving days are already normalised to
24 hours in these files; a file whose rows are not whole days of 24 consecutive hours is
refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["HOURS", "DayMatrix", "load_day_matrix", "to_day_matrix"]

HOURS = 24


@dataclass(frozen=True, slots=True)
class DayMatrix:
    """Prices and exogenous forecasts, one row per delivery day.

    prices : ``(n_days, 24)`` hourly prices [currency/MWh].
    exogenous : ``(n_days, 24, k)`` hourly exogenous forecasts [unit of each column, e.g. MW].
    dates : ``(n_days,)`` delivery days (``datetime64[D]``, naive local dates).
    exogenous_names : names of the ``k`` exogenous columns, as in the file.
    """

    prices: NDArray[np.float64]
    exogenous: NDArray[np.float64]
    dates: NDArray[np.datetime64]
    exogenous_names: tuple[str, ...]

    @property
    def n_days(self) -> int:
        """Number of days."""
        return int(self.prices.shape[0])

    @property
    def day_of_week(self) -> NDArray[np.int64]:
        """Day of week of each day (Monday = 0 ... Sunday = 6)."""
        # 1970-01-01 was a Thursday (3).
        return ((self.dates.astype("datetime64[D]").astype(np.int64) + 3) % 7).astype(np.int64)

    def head(self, n_days: int) -> DayMatrix:
        """The first ``n_days`` days."""
        return DayMatrix(
            self.prices[:n_days],
            self.exogenous[:n_days],
            self.dates[:n_days],
            self.exogenous_names,
        )


def to_day_matrix(frame: pd.DataFrame) -> DayMatrix:
    """Day matrix from an epftoolbox-layout frame.

    The first column (or, if the frame has a ``DatetimeIndex``, the index) holds naive hourly
    timestamps; the next column holds prices [currency/MWh]; any further columns are exogenous
    forecasts. Raises ``ValueError`` when the rows are not whole days of 24 consecutive hours
    starting at 00:00, or when values are missing or not numeric.
    """
    if isinstance(frame.index, pd.DatetimeIndex):
        stamps = pd.Series(frame.index, index=None)
        values = frame
    else:
        if frame.shape[1] < 2:
            raise ValueError(f"need a timestamp and a price column, got {frame.shape[1]} column(s)")
        stamps = pd.Series(pd.to_datetime(frame.iloc[:, 0], format="ISO8601", errors="coerce"))
        values = frame.iloc[:, 1:]
    if values.shape[1] < 1:
        raise ValueError("no price column")
    n = len(stamps)
    if n == 0:
        raise ValueError("no rows")
    if stamps.isna().any():
        bad = int(np.flatnonzero(stamps.isna().to_numpy())[0])
        raise ValueError(f"row {bad}: timestamp is missing or not a date")
    if n % HOURS:
        raise ValueError(f"{n} rows are not whole days of {HOURS} hours ({n % HOURS} left over)")
    t = stamps.to_numpy().astype("datetime64[h]")
    first = t[0]
    if (first - first.astype("datetime64[D]")).astype(np.int64) != 0:
        raise ValueError(f"the first row must be at 00:00, got {stamps.iloc[0]}")
    step = np.diff(t).astype(np.int64)
    if np.any(step != 1):
        bad = int(np.flatnonzero(step != 1)[0]) + 1
        raise ValueError(
            f"row {bad}: timestamp {stamps.iloc[bad]} does not follow "
            f"{stamps.iloc[bad - 1]} by one hour (rows must be consecutive hours)"
        )
    try:
        data = values.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"non-numeric value in price or exogenous columns: {exc}") from exc
    if not np.all(np.isfinite(data)):
        row, col = np.argwhere(~np.isfinite(data))[0]
        raise ValueError(f"row {row}, column {values.columns[col]!r}: value is missing")
    n_days = n // HOURS
    cube = data.reshape(n_days, HOURS, data.shape[1])
    return DayMatrix(
        prices=np.ascontiguousarray(cube[:, :, 0]),
        exogenous=np.ascontiguousarray(cube[:, :, 1:]),
        dates=t[::HOURS].astype("datetime64[D]"),
        exogenous_names=tuple(str(c).strip() for c in values.columns[1:]),
    )


def load_day_matrix(path: str | Path) -> DayMatrix:
    """Read an epftoolbox-layout CSV file (timestamp, price, exogenous ...) as a day matrix."""
    return to_day_matrix(pd.read_csv(path))
