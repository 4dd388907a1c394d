"""Delivery grids and gate times of a market's products, DST-correct (pure functions).

Grids are built in UTC from the local day's bounds and labelled in local time, so that a local
day in Europe/Berlin has 92, 96 or 100 quarter-hours. Periods that divide an hour (5, 15, 30,
60 min) step in elapsed time from local midnight; longer products (240 min) are local
wall-clock blocks (00-04, 04-08, ...), the block holding a clock change being 3 or 5 hours long.

Every instant taken as input must carry an offset (``ValueError`` otherwise). Local wall times
taken as input (:func:`local_to_utc`) must exist; an ambiguous one is resolved by its ``fold``.
Local times of gate *rules* are resolved leniently so that a calendar never fails on a DST day:
an ambiguous rule time means its first occurrence, a skipped one is shifted forward by the gap.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pandas as pd

from openvpp.core.clock import ensure_utc
from openvpp.markets.model import BeforeDelivery, DayBefore, Market, Product

MIDNIGHT = time(0)


class DeliveryInterval(NamedTuple):
    """One delivery interval: ``[start, end)`` in UTC and in the market's local time."""

    start_utc: datetime
    end_utc: datetime
    start_local: datetime
    end_local: datetime

    @property
    def minutes(self) -> int:
        """Length [min]."""
        return int((self.end_utc - self.start_utc) // timedelta(minutes=1))


def as_utc(value: datetime, name: str = "timestamp") -> datetime:
    """``value`` in UTC; ``ValueError`` if it carries no offset."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must carry a UTC offset, got naive {value.isoformat()}")
    return ensure_utc(value)


def local_to_utc(wall: datetime, tz: str) -> datetime:
    """The UTC instant of a naive local wall time in ``tz``.

    ``ValueError`` if ``wall`` carries an offset or does not exist (skipped by a clock change,
    e.g. 02:30 on a spring-forward day in Europe/Berlin). An ambiguous wall time (repeated by a
    fall-back change) is the first occurrence with ``fold=0`` and the second with ``fold=1``.
    """
    if wall.tzinfo is not None:
        raise ValueError(f"local time must be naive wall-clock time, got {wall.isoformat()}")
    zone = ZoneInfo(tz)
    utc = wall.replace(tzinfo=zone).astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != wall:
        raise ValueError(f"{wall.isoformat()} does not exist in {tz} (skipped by a clock change)")
    return utc


def _wall_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    # lenient: fold=0 is the first occurrence of an ambiguous time; a skipped time is read with
    # the offset before the change, i.e. shifted forward by the gap
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """UTC instants of local midnight of ``day`` and of the next day in ``tz``."""
    zone = ZoneInfo(tz)
    nxt = day + timedelta(days=1)
    return _wall_utc(datetime.combine(day, MIDNIGHT), zone), _wall_utc(
        datetime.combine(nxt, MIDNIGHT), zone
    )


def _period_zone(market_or_product: Market | Product) -> tuple[int, str]:
    if isinstance(market_or_product, Market):
        return market_or_product.settlement.period_min, market_or_product.time_zone
    return market_or_product.period_min, market_or_product.time_zone


def _starts_utc(day: date, period_min: int, tz: str) -> tuple[list[datetime], datetime]:
    start, end = day_bounds(day, tz)
    if 60 % period_min == 0:
        step = timedelta(minutes=period_min)
        if (end - start) % step:
            raise ValueError(f"the local day {day} in {tz} is not a multiple of {period_min} min")
        n = (end - start) // step
        return [start + k * step for k in range(n)], end
    if period_min % 60 or 1440 % period_min:
        raise ValueError(f"period_min {period_min} neither divides an hour nor a day")
    zone = ZoneInfo(tz)
    midnight = datetime.combine(day, MIDNIGHT)
    blocks = [_wall_utc(midnight + timedelta(minutes=m), zone) for m in range(0, 1440, period_min)]
    return blocks, end


def delivery_intervals(market_or_product: Market | Product, day: date) -> list[DeliveryInterval]:
    """The delivery intervals of the local day ``day``, in time order.

    A product's grid uses its ``period_min``, a market's its settlement period.
    """
    return list(_intervals(*_period_zone(market_or_product), day))


@lru_cache(maxsize=4096)
def _intervals(period_min: int, tz: str, day: date) -> tuple[DeliveryInterval, ...]:
    """The grid of one local day, built once (orders look their interval up in it)."""
    starts, end = _starts_utc(day, period_min, tz)
    zone = ZoneInfo(tz)
    bounds = [*starts, end]
    return tuple(
        DeliveryInterval(s, e, s.astimezone(zone), e.astimezone(zone)) for s, e in pairwise(bounds)
    )


def delivery_index(market_or_product: Market | Product, day: date) -> pd.DatetimeIndex:
    """Interval starts of the local day ``day``, labelled in the market's zone."""
    period_min, tz = _period_zone(market_or_product)
    starts, _ = _starts_utc(day, period_min, tz)
    return pd.DatetimeIndex(starts).tz_convert(tz)


def _resolve(rule: DayBefore | BeforeDelivery, start_utc: datetime, tz: str) -> datetime:
    if isinstance(rule, BeforeDelivery):
        return start_utc - timedelta(minutes=rule.minutes)
    zone = ZoneInfo(tz)
    delivery_day = start_utc.astimezone(zone).date()
    wall = datetime.combine(delivery_day - timedelta(days=rule.days), rule.time_of_day)
    return _wall_utc(wall, zone)


def gate_closure(product: Product, delivery_start: datetime) -> datetime:
    """When orders for the interval starting at ``delivery_start`` stop being accepted [UTC]."""
    start = as_utc(delivery_start, "delivery_start")
    return _resolve(product.gate_closure, start, product.time_zone)


def gate_opening(product: Product, delivery_start: datetime) -> datetime | None:
    """When orders for the interval starting at ``delivery_start`` start being accepted [UTC];
    ``None`` if the product has no gate opening."""
    start = as_utc(delivery_start, "delivery_start")
    if product.gate_opening is None:
        return None
    return _resolve(product.gate_opening, start, product.time_zone)


def is_open(product: Product, delivery_start: datetime, now: datetime) -> bool:
    """Whether orders for the interval starting at ``delivery_start`` are accepted at ``now``:
    ``opening <= now < closure``."""
    now_utc = as_utc(now, "now")
    opening = gate_opening(product, delivery_start)
    return (opening is None or opening <= now_utc) and now_utc < gate_closure(
        product, delivery_start
    )


def _lead_days(rule: DayBefore | BeforeDelivery) -> int:
    if isinstance(rule, DayBefore):
        return rule.days + 1
    return rule.minutes // 1440 + 1


def next_gate_closure(product: Product, now: datetime) -> tuple[datetime, DeliveryInterval]:
    """The first gate closure strictly after ``now`` [UTC] and the first delivery interval it
    covers.

    Both rule kinds give closures that never decrease with the delivery start, so the first
    interval in time order whose closure is after ``now`` has the earliest such closure.
    """
    now_utc = as_utc(now, "now")
    first_day = now_utc.astimezone(ZoneInfo(product.time_zone)).date() - timedelta(days=1)
    for k in range(_lead_days(product.gate_closure) + 3):
        for interval in delivery_intervals(product, first_day + timedelta(days=k)):
            closure = gate_closure(product, interval.start_utc)
            if closure > now_utc:
                return closure, interval
    raise AssertionError("unreachable: a closure follows within the lead")  # pragma: no cover
