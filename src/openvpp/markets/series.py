"""Market data series as stored: vintages ("what was known at T") and resampling.

Pure pandas/numpy functions over frames with the columns ``start`` (interval start [UTC]),
``period_min`` (interval length [min]), ``known_at`` (when the value became known [UTC]) and
``value``. Every value of a market data series is an interval average (a price [currency/MWh]
or [currency/MW], a volume rate [MW]), so a coarser interval is the time-weighted mean of the
finer ones and a finer interval repeats the coarser value.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

__all__ = ["RESOLUTIONS_MIN", "latest_known", "resample"]

RESOLUTIONS_MIN = (5, 15, 30, 60, 240, 1440)
"""Output resolutions [min]. Up to 240 the buckets are aligned to UTC; 1440 is the calendar day
in the market's time zone (23, 24 or 25 hours long)."""


def latest_known(frame: pd.DataFrame, as_of: datetime | None) -> pd.DataFrame:
    """For each ``start`` the newest value known at or before ``as_of`` [UTC] (all vintages
    when ``as_of`` is ``None``), sorted by ``start``. A value is never taken from a vintage
    published after ``as_of``: a backtest asking at T sees exactly what existed at T."""
    kept = frame if as_of is None else frame[frame["known_at"] <= pd.Timestamp(as_of)]
    kept = kept.sort_values(["start", "known_at"], kind="stable")
    return kept.drop_duplicates("start", keep="last").reset_index(drop=True)


def resample(frame: pd.DataFrame, resolution_min: int, time_zone: str = "UTC") -> pd.DataFrame:
    """Time-weighted means of ``value`` per bucket of ``resolution_min`` minutes.

    Each interval is first split into equal pieces of ``gcd(period, resolution)`` minutes, so
    intervals coarser than the bucket repeat their value and finer ones average; intervals of
    mixed lengths are weighted by their duration. Returns ``start`` [UTC], ``end`` [UTC],
    ``value`` and ``coverage`` (the share of the bucket that had data, 0..1] and ``known_at``
    (the latest ``known_at`` among the values of the bucket [UTC]). Buckets without data are
    omitted.
    """
    if resolution_min not in RESOLUTIONS_MIN:
        raise ValueError(f"resolution must be one of {RESOLUTIONS_MIN} minutes")
    columns = ["start", "end", "value", "coverage", "known_at"]
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=frame[c].dtype) for c in columns if c in frame})
    period = frame["period_min"].to_numpy(dtype=np.int64)
    starts = pd.DatetimeIndex(frame["start"]).tz_convert("UTC")
    minute = (starts.as_unit("ns").asi8 // 60_000_000_000).astype(np.int64)  # since the epoch
    if resolution_min == 1440:
        # local days start on a local hour: align pieces to the local hour grid
        local = starts.tz_convert(ZoneInfo(time_zone)).tz_localize(None)
        utc_offset = (local - starts.tz_localize(None)) // pd.Timedelta(minutes=1)
        grid, position = 60, (minute + utc_offset.to_numpy().astype(np.int64)) % 60
    else:
        grid, position = resolution_min, minute % resolution_min
    # pieces never straddle a bucket: their length divides the period, the grid and the
    # start's position on the grid (an off-grid start, e.g. a 4-hour block at 23:00 UTC)
    step = np.gcd(np.gcd(period, grid), position)  # gcd(x, 0) == x: an on-grid start
    pieces = period // step
    idx = np.repeat(np.arange(len(frame)), pieces)
    offset = np.arange(len(idx)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    step_rep = step[idx]
    stamps = pd.DatetimeIndex(frame["start"].to_numpy()[idx], tz="UTC") + pd.to_timedelta(
        offset * step_rep, unit="min"
    )
    values = frame["value"].to_numpy(dtype=np.float64)[idx]
    known = frame["known_at"].to_numpy()[idx]
    if resolution_min == 1440:
        wall = stamps.tz_convert(ZoneInfo(time_zone)).tz_localize(None).normalize()
        bucket = _localize(wall, time_zone)
        bucket_end = _localize(wall + pd.Timedelta(days=1), time_zone)
    else:
        bucket = stamps.floor(f"{resolution_min}min")
        bucket_end = bucket + pd.Timedelta(minutes=resolution_min)
    pieces_frame = pd.DataFrame(
        {
            "start": bucket,
            "end": bucket_end,
            "value": values * step_rep,
            "minutes": step_rep,
            "known_at": known,
        }
    )
    grouped = pieces_frame.groupby(["start", "end"], sort=True).agg(
        value=("value", "sum"), minutes=("minutes", "sum"), known_at=("known_at", "max")
    )
    out = grouped.reset_index()
    length = (out["end"] - out["start"]).dt.total_seconds() / 60.0
    out["value"] = out["value"] / out["minutes"]
    out["coverage"] = np.minimum(out["minutes"] / length, 1.0)
    out["start"] = out["start"].dt.tz_convert("UTC")
    out["end"] = out["end"].dt.tz_convert("UTC")
    return out[columns]


def _localize(wall: pd.DatetimeIndex, time_zone: str) -> pd.DatetimeIndex:
    """Local wall times (naive) as instants in ``time_zone``; an ambiguous one is its first
    occurrence, a non-existent one (midnight skipped by DST) moves to the next valid time."""
    first = np.ones(len(wall), dtype=bool)
    return wall.tz_localize(ZoneInfo(time_zone), ambiguous=first, nonexistent="shift_forward")
