"""A demand-response day of a VPP settled against its baseline (pure).

The awards are the VPP's fills in the demand-response market (energy of response sold, at the
clearing price); the load is the VPP's metered consumption (the negated injection of its
monitoring records); the baseline comes from the same records' history by the preset's
method (:mod:`openvpp.settlement.baselines`) over the event window (the awarded intervals),
with the VPP's earlier event days excluded; the response is paid and under-delivery
penalised by :func:`openvpp.settlement.engine.settle_response`.

An awarded interval without a complete meter reading counts as **not delivered** (the
response cannot be shown).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from openvpp.core.errors import ValidationFailed
from openvpp.core.money import IntArray, Units
from openvpp.markets.calendar import DeliveryInterval
from openvpp.markets.model import Direction, Market
from openvpp.settlement import engine
from openvpp.settlement.baselines import DayCalendar, Event, compute_baseline
from openvpp.settlement.engine import ResponseIntervals
from openvpp.settlement.positions import Fill, MeterRow, metered_by_interval, traded_by_interval
from openvpp.settlement.records import VPP_ROW

__all__ = ["ResponseDay", "settle_response_day"]


@dataclass(frozen=True)
class ResponseDay:
    """lines : ``response_payment`` and ``under_delivery_penalty`` per interval [minor
    units]; award, response : per interval [energy steps]; price : the clearing price per
    interval [ticks]; estimated : awarded intervals without a complete reading; baseline_days :
    the days the baseline averaged."""

    lines: dict[str, IntArray]
    award: IntArray
    response: IntArray
    price: IntArray
    estimated: np.ndarray
    baseline_days: tuple[date, ...]
    adjustment: float


def _direction(fills: Sequence[Fill], market: Market) -> Direction:
    found = {market.product(product).direction for _, product, *_ in fills}
    if len(found) != 1:
        raise ValidationFailed(
            f"the day's awards mix response directions {sorted(found)}", field="product"
        )
    return found.pop()


def _load_series(rows: Sequence[MeterRow]) -> pd.Series:
    """The VPP's consumption [MW] on a regular grid of its monitoring interval; gaps NaN."""
    own = [r for r in rows if r[0] == VPP_ROW]
    if not own:
        raise ValidationFailed("no meter readings of the VPP for its baseline", field="vpp_id")
    minutes = min(r[2] for r in own)
    values = pd.Series(
        [np.nan if r[4] is None else -float(r[4]) for r in own],
        index=pd.DatetimeIndex([r[1] for r in own]).tz_convert("UTC"),
    )
    values = values[~values.index.duplicated(keep="last")].sort_index()
    grid = pd.date_range(values.index[0], values.index[-1], freq=f"{minutes}min")
    return values.reindex(grid)


def settle_response_day(
    fills: Sequence[Fill],
    history: Sequence[MeterRow],
    intervals: Sequence[DeliveryInterval],
    market: Market,
    *,
    excluded_days: frozenset[date],
    period_of: Callable[[str, str], timedelta | None],
) -> ResponseDay:
    """The day's demand-response settlement (module docstring). ``history`` holds the VPP's
    meter rows from the baseline's lookback up to the end of the day."""
    rules = market.settlement
    rule = rules.baseline
    if rule is None:
        raise ValidationFailed(f"{market.code} has no baseline method", field="market")
    units: Units = engine.units_for(rules)
    n = len(intervals)
    awarded = traded_by_interval(fills, intervals, period_of, units)
    if np.any(awarded.energy < 0):
        raise ValidationFailed("a demand-response award must be sold response", field="side")
    price = np.zeros(n, dtype=np.int64)
    has = awarded.energy > 0
    if not has.any():
        zero = np.zeros(n, dtype=np.int64)
        lines = {engine.RESPONSE: zero, engine.UNDER_DELIVERY: zero.copy()}
        return ResponseDay(lines, zero, zero, price, np.zeros(n, dtype=bool), (), 0.0)
    # clearing price [ticks] = value / energy of the interval's awards
    scale = (units.energy_step_mwh * engine.PRICE_TICK) / units.minor_unit
    price[has] = np.rint(awarded.value[has] / awarded.energy[has] / float(scale)).astype(np.int64)

    zone = ZoneInfo(market.time_zone)
    first = intervals[int(np.argmax(has))]
    last = intervals[n - 1 - int(np.argmax(has[::-1]))]
    end_local = last.end_utc.astimezone(zone)
    day = first.start_utc.astimezone(zone).date()
    event = Event(
        day,
        first.start_utc.astimezone(zone).time(),
        None if end_local.date() != day else end_local.time(),
    )
    load = _load_series(history)
    try:
        base = compute_baseline(
            load,
            event,
            rule,
            zone=market.time_zone,
            calendar=DayCalendar(
                holidays=frozenset(rule.holidays),
                working_weekend_days=frozenset(rule.working_weekend_days),
                excluded=excluded_days,
            ),
        )
    except ValueError as e:
        raise ValidationFailed(f"baseline: {e}", field="market") from None
    on_grid = _on_settlement_grid(base.values, intervals)
    day_rows = [r for r in history if r[0] == VPP_ROW and intervals[0].start_utc <= r[1]]
    _, met, incomplete = metered_by_interval(day_rows, intervals, [VPP_ROW])
    estimated = has & incomplete[0]
    load_mwh = np.where(estimated, on_grid, -met[0])  # no reading: no response shown
    step = float(units.energy_step_mwh)
    tick = float(engine.PRICE_TICK)
    direction = _direction(fills, market)
    lines = engine.settle_response(
        ResponseIntervals(
            baseline_mwh=on_grid,
            load_mwh=load_mwh,
            award_mwh=awarded.energy * step,
            price=price * tick,
        ),
        market,
        direction,
    )
    b_steps, l_steps = units.energy(on_grid), units.energy(load_mwh)
    response = (b_steps - l_steps) if direction is Direction.UP else (l_steps - b_steps)
    return ResponseDay(
        lines=lines,
        award=awarded.energy,
        response=np.where(has, response, 0),
        price=price,
        estimated=estimated,
        baseline_days=base.days,
        adjustment=base.adjustment,
    )


def _on_settlement_grid(
    baseline_mw: pd.Series, intervals: Sequence[DeliveryInterval]
) -> np.ndarray:
    """Baseline energy [MWh] per settlement interval from its values [MW] per reading."""
    index = pd.DatetimeIndex(baseline_mw.index).tz_convert("UTC")
    step_h = (index[1] - index[0]) / pd.Timedelta(hours=1) if len(index) > 1 else 0.0
    starts = pd.DatetimeIndex([iv.start_utc for iv in intervals]).tz_convert("UTC")
    j = np.searchsorted(starts.as_unit("us").asi8, index.as_unit("us").asi8, side="right") - 1
    out = np.zeros(len(intervals))
    values = baseline_mw.to_numpy(dtype=np.float64)
    ok = (j >= 0) & np.isfinite(values)
    np.add.at(out, j[ok], values[ok] * step_h)
    return out
