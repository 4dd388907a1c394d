"""A VPP's settlement inputs on the settlement grid (pure): its traded position and the exact
value of its trades from fills, and metered energies from monitoring records."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.core.errors import ValidationFailed
from openvpp.core.money import IntArray, Units
from openvpp.markets.calendar import DeliveryInterval

__all__ = ["Fill", "MeterRow", "Traded", "metered_by_interval", "traded_by_interval"]

Fill = tuple[str, str, datetime, str, Decimal, Decimal]
"""market, product, delivery start [UTC], side ('buy'/'sell'), quantity [MW], price."""

_MICROSECOND = timedelta(microseconds=1)
_US_PER_HOUR = 3_600_000_000


def _round_half_even(value: Fraction) -> int:
    return round(value)  # Fraction.__round__ rounds half to even


@dataclass(frozen=True)
class Traded:
    """Per settlement interval: net energy sold [energy steps, sale positive], the gross
    energy traded (bought plus sold) [energy steps] and the exact value of the trades [minor
    units, sale positive], one rounding per interval."""

    energy: IntArray
    volume: IntArray
    value: IntArray
    fills: int


def traded_by_interval(
    fills: Sequence[Fill],
    intervals: Sequence[DeliveryInterval],
    period_of: Callable[[str, str], timedelta | None],
    units: Units,
) -> Traded:
    """Spread each fill's energy (``quantity x`` its product's period) over the settlement
    intervals it overlaps, pro rata in time, and value it at the fill's price: exact
    fractions, rounded once per interval (energy to steps, value to minor units, half to
    even). ``period_of(market, product)`` gives a product's delivery period; a fill of an
    unknown product is refused (``ValidationFailed``)."""
    n = len(intervals)
    starts = [iv.start_utc for iv in intervals]
    ends = [iv.end_utc for iv in intervals]
    energy = [Fraction(0)] * n
    volume = [Fraction(0)] * n
    value = [Fraction(0)] * n
    used = 0
    for market, product, delivery, side, qty, price in fills:
        period = period_of(market, product)
        if period is None:
            raise ValidationFailed(
                f"fill in {market} {product}: unknown product period", field="product"
            )
        end = delivery + period
        lo, hi = bisect_right(ends, delivery), bisect_left(starts, end)
        if lo >= hi:
            continue
        used += 1
        sign = 1 if side == "sell" else -1
        mw = Fraction(qty) * sign
        for j in range(lo, hi):
            overlap = min(end, ends[j]) - max(delivery, starts[j])
            e = mw * Fraction(overlap // _MICROSECOND, _US_PER_HOUR)  # [MWh], exact
            energy[j] += e
            volume[j] += abs(e)
            value[j] += e * Fraction(price)
    step, minor = Fraction(units.energy_step_mwh), Fraction(units.minor_unit)
    return Traded(
        energy=np.array([_round_half_even(e / step) for e in energy], dtype=np.int64),
        volume=np.array([_round_half_even(v / step) for v in volume], dtype=np.int64),
        value=np.array([_round_half_even(v / minor) for v in value], dtype=np.int64),
        fills=used,
    )


MeterRow = tuple[str, datetime, int, float, float | None]
"""resource id, interval start [UTC], interval length [min], scheduled [MW], metered [MW] or
None (not metered)."""


def metered_by_interval(
    rows: Sequence[MeterRow], intervals: Sequence[DeliveryInterval], subjects: Sequence[str]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Scheduled and metered energy [MWh] of each subject (``subjects`` order) per settlement
    interval, and whether any of its monitoring intervals there lacked a reading.

    Monitoring intervals must nest in settlement intervals (e.g. 5 or 15 min in 15): each
    adds ``power x its length``. A subject's interval without rows is not metered.
    """
    m, n = len(subjects), len(intervals)
    scheduled = np.zeros((m, n))
    metered = np.zeros((m, n))
    if not rows or n == 0:
        return scheduled, metered, np.ones((m, n), dtype=bool)
    row_of = {s: i for i, s in enumerate(subjects)}
    resource, start, minutes, sched_mw, met_mw = zip(*rows, strict=True)
    i = np.array([row_of.get(r, -1) for r in resource], dtype=np.int64)
    at = pd.DatetimeIndex(start).tz_convert("UTC").as_unit("us").asi8
    edges = pd.DatetimeIndex([iv.start_utc for iv in intervals] + [intervals[-1].end_utc])
    bounds = edges.tz_convert("UTC").as_unit("us").asi8
    length = np.asarray(minutes, dtype=np.int64)
    j = np.searchsorted(bounds, at, side="right") - 1
    inside = (i >= 0) & (j >= 0) & (j < n)
    ends = at + length * 60_000_000
    spill = inside & (ends > bounds[np.minimum(j + 1, n)])
    if spill.any():
        k = int(np.flatnonzero(spill)[0])
        raise ValidationFailed(
            f"monitoring interval of {int(length[k])} min at {start[k].isoformat()} does not "
            f"nest in the {intervals[int(j[k])].minutes}-min settlement interval",
            field="interval_min",
        )
    i, j, length = i[inside], j[inside], length[inside]
    hours = length / 60
    sched = np.asarray(sched_mw, dtype=np.float64)[inside]
    met = np.array([np.nan if v is None else v for v in met_mw], dtype=np.float64)[inside]
    np.add.at(scheduled, (i, j), sched * hours)
    readable = np.isfinite(met)
    np.add.at(metered, (i[readable], j[readable]), met[readable] * hours[readable])
    covered = np.zeros((m, n), dtype=np.int64)
    np.add.at(covered, (i, j), length)
    missing = np.zeros((m, n), dtype=bool)
    missing[i[~readable], j[~readable]] = True
    full = np.array([iv.minutes for iv in intervals], dtype=np.int64)
    return scheduled, metered, missing | (covered < full[None, :])
