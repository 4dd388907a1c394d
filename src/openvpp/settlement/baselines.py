"""Demand-response baselines: what a load would have consumed without the event (pure).

A baseline is built from the load's history in the market's local time: each past local day is a
row of wall-clock times (a repeated hour on a 25-hour day counts as the mean of its two
readings; the hour a 23-hour day skips is missing from that row), candidate days are ranked and
averaged, and the result is laid on the event day's own intervals by wall-clock time, so a
23-hour event day gets 92 quarter-hours and a 25-hour day 100, both 02:xx intervals of the
latter taking the profile's 02:xx value.

Methods (:class:`~openvpp.markets.model.BaselineMethod`); candidates are the days before the
event, not excluded by the calendar (events, abnormal days), of the event day's type (working or
not), complete (one reading per interval of the local day), within ``lookback_days``:

- ``caiso_10_in_10``: the mean of the 10 most recent working days (4 of 4 on other days), times
  a same-day ratio over the 3 hours ending 1 hour before the event, capped at
  ``1 +- adjustment_cap`` (20 % at CAISO).
- ``high_4_of_5``: of the 5 most recent working days (3 on other days), the 4 (2) with the
  highest mean load over the event window, averaged, plus a symmetric additive adjustment over
  the same 3 hours (PJM; no cap unless ``adjustment_cap`` is set, which bounds it as a share of
  the baseline's mean in that window).
- ``last_5_working_days``: the mean of the 5 most recent days of the event day's type
  (Jiangsu's "last 5 normal working days"); no adjustment.
- ``top_5_of_10``: of the candidate days D-12 ... D-2 (at most the 10 most recent, at least 5),
  the 5 with the highest mean load over the event window, averaged (Beijing); no adjustment.
- ``pre_event``: the reading of the interval 15 minutes before the event starts, flat over the
  day (Jiangsu's real-time demand response).

Ranking ties go to the more recent day. Units are the load's (e.g. [MW] or [MWh per interval]).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.markets.calendar import day_bounds
from openvpp.markets.model import Baseline, BaselineMethod, valid_zone

__all__ = ["BaselineResult", "DayCalendar", "Event", "compute_baseline"]

ADJUSTMENT_HOURS = 3  # the same-day adjustment window [h] ...
ADJUSTMENT_GAP_HOURS = 1  # ... ending this long before the event starts [h]
PRE_EVENT_LEAD = timedelta(minutes=15)

# method -> ((pool, kept, fewest) on working days, the same on other days): the ``pool`` most
# recent candidates, of which ``kept`` are averaged; fewer than ``fewest`` candidates is an error
_COUNTS = {
    BaselineMethod.CAISO_10_IN_10: ((10, 10, 10), (4, 4, 4)),
    BaselineMethod.HIGH_4_OF_5: ((5, 4, 5), (3, 2, 3)),
    BaselineMethod.LAST_5_WORKING_DAYS: ((5, 5, 5), (5, 5, 5)),
    BaselineMethod.TOP_5_OF_10: ((10, 5, 5), (10, 5, 5)),
}


@dataclass(frozen=True)
class DayCalendar:
    """Which local days are working days, and which may not serve as baseline days.

    holidays : public holidays (not working days); working_weekend_days : weekend days that are
    working days (e.g. China's adjusted working days); excluded : event days and abnormal days,
    never candidates; weekend : ISO weekdays off, Monday = 0.
    """

    holidays: frozenset[date] = frozenset()
    working_weekend_days: frozenset[date] = frozenset()
    excluded: frozenset[date] = frozenset()
    weekend: frozenset[int] = frozenset({5, 6})

    def is_working(self, day: date) -> bool:
        if day in self.holidays:
            return False
        return day.weekday() not in self.weekend or day in self.working_weekend_days


@dataclass(frozen=True)
class Event:
    """A demand-response event on a local ``day`` from ``start`` to ``end`` (local wall clock,
    ``end`` exclusive; ``None`` is the end of the day)."""

    day: date
    start: time
    end: time | None = None

    @property
    def window_min(self) -> tuple[int, int]:
        """Start and end as minutes after local midnight."""
        start = self.start.hour * 60 + self.start.minute
        end = 1440 if self.end is None else self.end.hour * 60 + self.end.minute
        if end <= start:
            raise ValueError(f"event end {self.end} must be after its start {self.start}")
        return start, end


@dataclass(frozen=True)
class BaselineResult:
    """values : the baseline on the event day's intervals [UTC index, the load's unit];
    in_event : which of them the event covers; days : the days averaged, most recent first;
    adjustment : the same-day ratio (multiplicative) or offset (additive) applied, 1.0 / 0.0
    when none."""

    values: pd.Series
    in_event: NDArray[np.bool_]
    days: tuple[date, ...]
    adjustment: float
    method: BaselineMethod


def _interval(index: pd.DatetimeIndex) -> pd.Timedelta:
    if index.tz is None:
        raise ValueError("load must be indexed by tz-aware timestamps")
    if len(index) < 2 or not index.is_monotonic_increasing or not index.is_unique:
        raise ValueError("load index must be increasing and unique, with two readings or more")
    steps = np.diff(index.to_numpy())  # timedelta64 in the index's own resolution
    if np.any(steps != steps[0]):
        raise ValueError("load must be regular: one reading per interval, no gaps")
    return pd.Timedelta(steps[0])


def _day_grid(day: date, zone: str, step: pd.Timedelta) -> pd.DatetimeIndex:
    start, end = day_bounds(day, zone)
    return pd.date_range(start, end, freq=step, inclusive="left")


def _wall_minutes(index: pd.DatetimeIndex, zone: str) -> NDArray[np.int64]:
    local = index.tz_convert(zone)
    return np.asarray(local.hour * 60 + local.minute, dtype=np.int64)


def _profile_matrix(
    load: pd.Series, zone: str, step: pd.Timedelta
) -> tuple[pd.DataFrame, pd.Series]:
    """Rows: local days, columns: wall-clock minutes; and whether each day is complete."""
    local = pd.DatetimeIndex(load.index).tz_convert(zone)
    frame = pd.DataFrame(
        {
            "day": local.date,
            "minute": local.hour * 60 + local.minute,
            "value": load.to_numpy(dtype=np.float64),
        }
    )
    frame = frame[np.isfinite(frame["value"])]
    matrix = frame.pivot_table(index="day", columns="minute", values="value", aggfunc="mean")
    counts = frame.groupby("day").size()
    days = pd.DatetimeIndex([pd.Timestamp(d) for d in counts.index])
    starts = days.tz_localize(zone)
    ends = (days + pd.Timedelta(days=1)).tz_localize(zone)
    expected = (ends - starts) / step
    complete = pd.Series(counts.to_numpy() == np.asarray(expected), index=counts.index)
    return matrix, complete


def _window_columns(matrix: pd.DataFrame, lo: int, hi: int) -> list[int]:
    return [int(c) for c in matrix.columns if lo <= int(c) < hi]


def compute_baseline(
    load: pd.Series,
    event: Event,
    rule: Baseline,
    *,
    zone: str,
    calendar: DayCalendar | None = None,
) -> BaselineResult:
    """The baseline of ``load`` for ``event`` by ``rule.method`` (module docstring).

    load : readings per interval, tz-aware index, regular; it must cover the candidate days
        and, for ``caiso_10_in_10``, ``high_4_of_5`` and ``pre_event``, the event day up to the
        event's start. ``ValueError`` names what is missing.
    """
    valid_zone(zone)
    calendar = calendar or DayCalendar()
    step = _interval(pd.DatetimeIndex(load.index))
    lo, hi = event.window_min
    grid = _day_grid(event.day, zone, step)
    minutes = _wall_minutes(grid, zone)
    in_event = (minutes >= lo) & (minutes < hi)
    if not in_event.any():
        raise ValueError(f"the event window has no interval on {event.day} in {zone}")
    if rule.method is BaselineMethod.PRE_EVENT:
        return _pre_event(load, event, grid, in_event)

    matrix, complete = _profile_matrix(load, zone, step)
    window = _window_columns(matrix, lo, hi)
    candidates = _candidates(matrix, complete, event, rule, calendar)
    working = calendar.is_working(event.day)
    pool, keep, fewest = _COUNTS[rule.method][0 if working else 1]
    chosen = candidates[:pool]
    if len(chosen) < fewest:
        kind = "working" if working else "non-working"
        raise ValueError(
            f"{rule.method.value} needs {fewest} eligible {kind} days before {event.day}, "
            f"the load has {len(chosen)}"
        )
    if keep < len(chosen):
        means = matrix.loc[chosen, window].mean(axis=1).to_numpy()
        # highest first; stable on recency, so ties keep the more recent day
        order = np.argsort(-means, kind="stable")[:keep]
        chosen = [chosen[i] for i in sorted(order)]
    profile = matrix.loc[chosen].mean(axis=0)
    values = profile.reindex(minutes).to_numpy(dtype=np.float64)
    if np.isnan(values[in_event]).any():
        raise ValueError("the chosen days do not cover every interval of the event window")

    adjustment = 1.0 if rule.method is BaselineMethod.CAISO_10_IN_10 else 0.0
    if rule.method in (BaselineMethod.CAISO_10_IN_10, BaselineMethod.HIGH_4_OF_5):
        values, adjustment = _adjust(load, values, grid, in_event, rule)
    return BaselineResult(
        values=pd.Series(values, index=grid, name="baseline"),
        in_event=in_event,
        days=tuple(chosen),
        adjustment=adjustment,
        method=rule.method,
    )


def _candidates(
    matrix: pd.DataFrame,
    complete: pd.Series,
    event: Event,
    rule: Baseline,
    calendar: DayCalendar,
) -> list[date]:
    """Eligible days, most recent first."""
    if rule.method is BaselineMethod.TOP_5_OF_10:
        first, last = event.day - timedelta(days=12), event.day - timedelta(days=2)
    else:
        first, last = event.day - timedelta(days=rule.lookback_days), event.day - timedelta(1)
    working = calendar.is_working(event.day)
    days = [
        d
        for d in matrix.index
        if first <= d <= last
        and bool(complete.get(d, False))
        and d not in calendar.excluded
        and calendar.is_working(d) == working
    ]
    return sorted(days, reverse=True)


def _adjust(
    load: pd.Series,
    values: NDArray[np.float64],
    grid: pd.DatetimeIndex,
    in_event: NDArray[np.bool_],
    rule: Baseline,
) -> tuple[NDArray[np.float64], float]:
    """Same-day adjustment over the 3 hours ending 1 hour before the event (on the day)."""
    first = pd.Timestamp(grid[int(np.argmax(in_event))])
    lo = first - timedelta(hours=ADJUSTMENT_HOURS + ADJUSTMENT_GAP_HOURS)
    hi = first - timedelta(hours=ADJUSTMENT_GAP_HOURS)
    mask = (grid >= lo) & (grid < hi)
    if not mask.any():
        return values, 1.0 if rule.method is BaselineMethod.CAISO_10_IN_10 else 0.0
    actual = load.reindex(grid[mask]).to_numpy(dtype=np.float64)
    if np.isnan(actual).any():
        raise ValueError(
            f"load must cover the adjustment window {lo.isoformat()} .. {hi.isoformat()} "
            f"of the event day"
        )
    base = float(values[mask].mean())
    seen = float(actual.mean())
    cap = None if rule.adjustment_cap is None else float(Decimal(rule.adjustment_cap))
    if rule.method is BaselineMethod.CAISO_10_IN_10:
        ratio = seen / base if base > 0 else 1.0
        if cap is not None:
            ratio = min(max(ratio, 1.0 - cap), 1.0 + cap)
        return values * ratio, ratio
    offset = seen - base
    if cap is not None:
        bound = cap * abs(base)
        offset = min(max(offset, -bound), bound)
    return values + offset, offset


def _pre_event(
    load: pd.Series,
    event: Event,
    grid: pd.DatetimeIndex,
    in_event: NDArray[np.bool_],
) -> BaselineResult:
    first = pd.Timestamp(grid[int(np.argmax(in_event))])
    at = first - PRE_EVENT_LEAD
    index = pd.DatetimeIndex(load.index)
    position = int(index.searchsorted(at, side="right")) - 1
    if position < 0 or index[position] + _interval(index) <= at:
        raise ValueError(f"load has no reading at {at.isoformat()}, 15 minutes before the event")
    level = float(load.iloc[position])
    if not np.isfinite(level):
        raise ValueError(f"the reading at {index[position].isoformat()} is not finite")
    values = np.full(len(grid), level)
    return BaselineResult(
        values=pd.Series(values, index=grid, name="baseline"),
        in_event=in_event,
        days=(event.day,),
        adjustment=0.0,
        method=BaselineMethod.PRE_EVENT,
    )
