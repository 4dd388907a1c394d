"""Flexible loads: BDEW standard load profiles, curtailable loads and shiftable loads.

Powers in [MW] with injection positive, so a load drawing power has negative injection;
consumption amounts (loads, energies) are given as positive numbers [MW], [MWh]. Durations
and local clock times in [h].

Parameters of curtailable and shiftable loads may be scalars (one resource, arrays shaped
``(n_intervals,)``) or arrays of shape ``(n_resources,)`` (arrays shaped
``(n_resources, n_intervals)``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

BDEW_PROFILES = ("G25", "H25", "L25", "P25", "S25")
"""BDEW 2025 standard load profiles: trade (G), household (H), farm (L), household with PV
(P), household with PV and battery (S)."""

BDEW_TZ = "Europe/Berlin"
_QUARTER = pd.Timedelta(minutes=15)
_TOL = 1e-9


def _demandlib_kw(profile: str, index: pd.DatetimeIndex) -> FloatArray:
    """demandlib's profile [kW, 1 GWh/year] on a regular 15-min Europe/Berlin index."""
    from demandlib import bdew

    with warnings.catch_warnings():
        # demandlib 0.2 uses pandas APIs (inplace=...) that pandas 3 deprecates.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        values = getattr(bdew, profile)(index)
    out = np.asarray(values, dtype=np.float64)
    if out.shape != (len(index),) or not np.all(np.isfinite(out)):
        raise RuntimeError(f"demandlib returned an unexpected {profile} profile")
    return out


@cache
def _annual_max_kw(profile: str, year: int) -> float:
    """The highest 15-min value of ``profile`` in local calendar ``year`` [kW].

    Per year, since the dynamic profiles (H25, P25, S25) scale by day of year, so their peak
    shifts slightly with the calendar (about 1 %); the static ones (G25, L25) peak alike."""
    index = pd.date_range(
        pd.Timestamp(year=year, month=1, day=1, tz=BDEW_TZ),
        pd.Timestamp(year=year + 1, month=1, day=1, tz=BDEW_TZ),
        freq="15min",
        inclusive="left",
    )
    return float(_demandlib_kw(profile, index).max())


@lru_cache(maxsize=512)
def _bdew_shape(profile: str, start_ns: int, periods: int, step_ns: int) -> FloatArray:
    per_step = step_ns // _QUARTER.value
    start = pd.Timestamp(start_ns, tz="UTC").tz_convert(BDEW_TZ)
    quarters = pd.date_range(start, periods=periods * per_step, freq="15min")
    kw = _demandlib_kw(profile, quarters)
    years = np.asarray(quarters.year)
    peak = np.empty_like(kw)
    for year in np.unique(years):  # one or two calendar years per horizon
        peak[years == year] = _annual_max_kw(profile, int(year))
    shape = np.asarray((kw / peak).reshape(periods, per_step).mean(axis=1), dtype=np.float64)
    shape.setflags(write=False)
    return shape


def bdew_shape(profile: str, index: pd.DatetimeIndex) -> FloatArray:
    """The BDEW 2025 standard load profile ``profile`` (G25, H25, L25, P25 or S25, any case)
    on ``index`` as a shape in [0, 1]: 1.0 is the profile's highest 15-min value in that local
    calendar year, so ``peak_mw * shape`` is a load [MW] peaking at ``peak_mw``.

    ``index`` is tz-aware and regular, its step a multiple of 15 min (15-min, 60-min, ...) and
    its timestamps (interval starts) on quarter-hours. The profile is evaluated in
    Europe/Berlin local time (so DST days have 92 or 100 quarter-hours); an interval longer
    than 15 min gets the mean of its quarter-hours. Public holidays are not applied (they
    would count as Sundays). The result is cached per (profile, start, periods, step) and is
    read-only.
    """
    key = profile.upper()
    if key not in BDEW_PROFILES:
        raise ValueError(f"unknown BDEW profile {profile!r}; allowed: {', '.join(BDEW_PROFILES)}")
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError("bdew_shape needs a tz-aware DatetimeIndex")
    if len(index) == 0:
        empty = np.zeros(0)
        empty.setflags(write=False)
        return empty
    if len(index) > 1:
        steps = index[1:] - index[:-1]
        step = steps[0]
        if np.any(steps != step):
            raise ValueError("bdew_shape needs a regular index")
    elif index.freq is not None:
        try:
            step = pd.Timedelta(index.freq.nanos, unit="ns")
        except ValueError:
            raise ValueError(f"the index step must be fixed, not {index.freq}") from None
    else:
        raise ValueError("a one-element index needs a freq")
    if step <= pd.Timedelta(0) or step % _QUARTER != pd.Timedelta(0):
        raise ValueError(f"the index step must be a multiple of 15 min, not {step}")
    start = index[0].tz_convert("UTC")
    if (start - start.floor("15min")) != pd.Timedelta(0):
        raise ValueError("the index must start on a quarter-hour")
    return _bdew_shape(key, start.value, len(index), step.value)


def local_clock(index: pd.DatetimeIndex, tz: str = BDEW_TZ) -> tuple[FloatArray, IntArray]:
    """Local hour of day [h] (e.g. 13.25) and local day number (0 for the first day) of each
    timestamp of a tz-aware ``index``, as ``shiftable_bounds`` takes them."""
    if index.tz is None:
        raise ValueError("local_clock needs a tz-aware DatetimeIndex")
    local = index.tz_convert(tz)
    hours = np.asarray(local.hour + local.minute / 60.0 + local.second / 3600.0, dtype=np.float64)
    dates = local.tz_localize(None).normalize()
    days = np.asarray((dates - dates[0]).days, dtype=np.int64) if len(dates) else np.zeros(0)
    return hours, days.astype(np.int64)


@dataclass(frozen=True)
class CurtailableBounds:
    """Envelope of a curtailable load [MW, injection positive]."""

    baseline_mw: FloatArray  # -load: draws its full load unless curtailed
    p_min_mw: FloatArray  # -load
    p_max_mw: FloatArray  # -load * (1 - max_fraction): the most it can be curtailed to
    shed_max_mw: FloatArray  # load * max_fraction: the most that can be shed per interval
    max_intervals: IntArray  # longest continuous curtailment [intervals], per resource


def curtailable_bounds(
    load_mw: FloatArray, max_fraction: ArrayLike, max_hours: ArrayLike, dt_h: float
) -> CurtailableBounds:
    """Bounds for a load drawing ``load_mw`` [MW, positive] that can shed up to
    ``max_fraction`` of it for at most ``max_hours`` [h] in a row.

    ``max_intervals`` is ``floor(max_hours / dt_h)`` with the shape of ``max_fraction`` and
    ``max_hours`` broadcast (0-d for one resource); 0 means not even one whole interval.
    Negative loads are treated as 0.
    """
    load = np.clip(np.asarray(load_mw, dtype=np.float64), 0.0, None)
    frac = np.asarray(max_fraction, dtype=np.float64)
    hours = np.asarray(max_hours, dtype=np.float64)
    if np.any((frac < 0.0) | (frac > 1.0)):
        raise ValueError("max_fraction must lie in [0, 1]")
    if np.any(hours < 0.0):
        raise ValueError("max_hours must not be negative")
    shed = load * frac[..., None]
    frac_shape, hours_shape = frac.shape, hours.shape
    intervals = np.floor(hours / dt_h + _TOL).astype(np.int64)
    return CurtailableBounds(
        baseline_mw=-load,
        p_min_mw=-load,
        p_max_mw=shed - load,
        shed_max_mw=shed,
        max_intervals=np.broadcast_to(intervals, np.broadcast_shapes(frac_shape, hours_shape)),
    )


@dataclass(frozen=True)
class ShiftableBounds:
    """Envelope and energy bounds of a shiftable load. Powers [MW] are injection (drawing is
    negative); energies [MWh] are consumed (positive) from the horizon's start to each
    interval's end."""

    p_min_mw: FloatArray  # -power within the window (pro rata at its edges), 0 outside
    p_max_mw: FloatArray  # 0: it can always pause
    baseline_mw: FloatArray  # runs as early as possible from each day's window start
    e_min_mwh: FloatArray  # serves each day's energy as late as possible
    e_max_mwh: FloatArray  # as early as possible
    days: IntArray  # the local day numbers in the horizon, in order
    shortfall_mwh: FloatArray  # per day (last axis): energy the window cannot take


def shiftable_bounds(
    power_mw: ArrayLike,
    energy_per_day_mwh: ArrayLike,
    window_start_h: ArrayLike,
    window_end_h: ArrayLike,
    local_hour_of_day: ArrayLike,
    day_index: ArrayLike,
    dt_h: float,
    *,
    served_first_day_mwh: ArrayLike = 0.0,
) -> ShiftableBounds:
    """Bounds for a load that must receive ``energy_per_day_mwh`` [MWh] each local day while
    running at up to ``power_mw`` [MW] inside its daily window ``[window_start_h,
    window_end_h)`` [h, local time].

    The horizon's intervals of ``dt_h`` [h] start at ``local_hour_of_day`` [h] on local day
    ``day_index`` (non-decreasing; see ``local_clock``). Windows are within one day
    (``0 <= window_start_h < window_end_h <= 24``); windows wrapping midnight are not
    supported. Each interval's share of the window is measured on the local clock, so on DST
    days the window holds one hour less or more. A day whose window cannot take its energy
    serves what fits and reports the rest in ``shortfall_mwh``.

    Partial days: on the first day, ``served_first_day_mwh`` [MWh] was already served before
    the horizon and the rest must fit into the window's part inside the horizon; on the last
    day, the window's part after the horizon's end still counts, so nothing is forced early.
    """
    power = np.asarray(power_mw, dtype=np.float64)[..., None]
    energy = np.asarray(energy_per_day_mwh, dtype=np.float64)[..., None]
    ws = np.asarray(window_start_h, dtype=np.float64)[..., None]
    we = np.asarray(window_end_h, dtype=np.float64)[..., None]
    served = np.asarray(served_first_day_mwh, dtype=np.float64)
    hour = np.asarray(local_hour_of_day, dtype=np.float64)
    day = np.asarray(day_index, dtype=np.int64)
    if np.any(power <= 0.0) or np.any(energy < 0.0):
        raise ValueError("power_mw must be positive and energy_per_day_mwh not negative")
    if np.any((ws < 0.0) | (we > 24.0) | (ws >= we)):
        raise ValueError("need 0 <= window_start_h < window_end_h <= 24 (no wrap at midnight)")
    if hour.ndim != 1 or hour.shape != day.shape or hour.size == 0:
        raise ValueError("local_hour_of_day and day_index are equal-length 1-d arrays")
    if np.any(np.diff(day) < 0):
        raise ValueError("day_index must be non-decreasing")

    # Share of each interval inside the window, and the energy the window can take in it.
    inside = np.clip(np.minimum(we, hour + dt_h) - np.maximum(ws, hour), 0.0, dt_h) / dt_h
    cap = power * inside * dt_h  # (..., n_intervals)
    first = np.concatenate([[True], day[1:] != day[:-1]])
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1  # day position of each interval
    cum = np.cumsum(cap, axis=-1)
    upto = cum - (cum - cap)[..., starts][..., group]  # window energy in the day up to t's end
    per_day = np.add.reduceat(cap, starts, axis=-1)
    # The last day's window may continue after the horizon.
    tail_h = np.clip(we - np.maximum(ws, hour[-1] + dt_h), 0.0, None)
    per_day[..., -1:] += power * tail_h
    need = np.broadcast_to(energy, per_day.shape).copy()
    need[..., :1] = np.clip(need[..., :1] - served[..., None], 0.0, None)
    got = np.minimum(need, per_day)
    prior = (np.cumsum(got, axis=-1) - got)[..., group]
    early = prior + np.minimum(got[..., group], upto)
    late = prior + np.clip(got[..., group] - (per_day[..., group] - upto), 0.0, None)
    step = np.diff(early, axis=-1, prepend=0.0)
    return ShiftableBounds(
        p_min_mw=np.asarray(-power * inside, dtype=np.float64),
        p_max_mw=np.zeros(cap.shape),
        baseline_mw=-step / dt_h,
        e_min_mwh=late,
        e_max_mwh=early,
        days=day[starts],
        shortfall_mwh=need - got,
    )
