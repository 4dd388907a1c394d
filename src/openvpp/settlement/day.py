"""A settlement run's day computed from what the store holds: the VPP's fills, its meters and
the stored prices on the settlement grid, the market's rules applied (energy markets) or its
demand response settled against the baseline, with the interval rows and the input hash."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from openvpp.core.errors import ValidationFailed
from openvpp.core.money import IntArray
from openvpp.markets.calendar import DeliveryInterval, day_bounds, delivery_intervals
from openvpp.markets.imbalance import align_to_grid
from openvpp.markets.model import Market
from openvpp.markets.records import SeriesKey
from openvpp.ports import UnitOfWork
from openvpp.settlement import engine
from openvpp.settlement.demand_response import settle_response_day
from openvpp.settlement.engine import EnergyIntervals
from openvpp.settlement.positions import metered_by_interval, traded_by_interval
from openvpp.settlement.records import AMOUNT_COLUMNS, VPP_ROW, IntervalDetails

__all__ = [
    "IMBALANCE_PRODUCT",
    "CalculateRequest",
    "Day",
    "compute_day",
    "period_of",
    "stored_prices",
]

IMBALANCE_PRODUCT = "IMB"


@dataclass(frozen=True)
class CalculateRequest:
    """Settle ``vpp_id`` in ``market`` (its preset's rules and day-ahead prices) for the local
    days ``first_day`` … ``last_day``.

    area : the price area (default: the VPP's market area); product : the product whose
    ``price`` series is the day-ahead price (default: the one with the settlement period,
    else the market's first); real-time price: ``imbalance_long`` / ``imbalance_short`` of
    product ``IMB`` (default), or the ``price`` of ``real_time_product`` in
    ``real_time_market`` (e.g. ``US-ISO-RT``).
    """

    vpp_id: str
    market: str
    first_day: date
    last_day: date
    area: str | None = None
    product: str | None = None
    real_time_market: str | None = None
    real_time_product: str = IMBALANCE_PRODUCT


@dataclass(frozen=True)
class Day:
    """A day's inputs on the settlement grid and what the run computed from them."""

    intervals: list[DeliveryInterval]
    lines: dict[str, IntArray]
    details: IntervalDetails
    estimated: int
    resources: int
    input_hash: str
    inputs: dict[str, Any]
    prices: dict[str, list[int]]


def compute_day(
    markets: Mapping[str, Market],
    uow: UnitOfWork,
    organization_id: str,
    req: CalculateRequest,
    market: Market,
    area: str,
    product: str,
    day: date,
    known_by: datetime,
) -> Day:
    """The day's settlement computed from the store: prices as known by ``known_by`` (the
    time of the run)."""
    rules = market.settlement
    if rules.baseline is not None:
        return _response_day(markets, uow, organization_id, req, market, area, day)
    units = engine.units_for(rules)
    intervals = delivery_intervals(market, day)
    start, end = day_bounds(day, market.time_zone)

    fills = uow.dispatch.fills(organization_id, req.vpp_id, start, end)
    in_market = [f for f in fills if f[0] == market.code]
    # other energy markets' fills are intraday trades of the same delivery; demand-response
    # awards are settled in their own market, against a baseline
    elsewhere = [
        f
        for f in fills
        if f[0] != market.code
        and (f[0] not in markets or markets[f[0]].settlement.baseline is None)
    ]
    periods = period_of(markets)
    traded = traded_by_interval(in_market, intervals, periods, units)
    other = traded_by_interval(elsewhere, intervals, periods, units)
    position = traded.energy + other.energy

    rows = uow.monitoring.meter_rows(organization_id, req.vpp_id, start, end)
    resources = sorted({r[0] for r in rows if r[0] != VPP_ROW})
    subjects = [VPP_ROW, *resources]
    sched_mwh, met_mwh, incomplete = metered_by_interval(rows, intervals, subjects)
    vpp_metered = units.energy(met_mwh[0], name="metered")
    if not any(r[0] == VPP_ROW for r in rows) and resources:
        # no VPP total recorded: the sum of its resources' meters
        vpp_metered = units.energy(met_mwh[1:].sum(axis=0), name="metered")
        incomplete[0] = incomplete[1:].any(axis=0)
    estimated = incomplete[0]
    # an interval without a complete reading is settled at its schedule (no deviation)
    vpp_metered = np.where(estimated, position, vpp_metered)

    key = SeriesKey(market.code, area, product, "price")
    da = stored_prices(uow, organization_id, key, intervals, known_by)
    rt_long, rt_short = _real_time(uow, organization_id, req, market, area, intervals, known_by)
    step = float(units.energy_step_mwh)
    lines = engine.settle_energy(
        EnergyIntervals(
            scheduled_mwh=position * step,
            metered_mwh=vpp_metered * step,
            day_ahead_price=da,
            real_time_price=rt_long,
            real_time_short_price=rt_short,
            traded_value=traded.value,
            traded_volume_mwh=traded.volume * step,
        ),
        rules,
    )
    intraday = {engine.INTRADAY: other.value} if other.fills else {}
    lines = {engine.DAY_AHEAD: lines.pop(engine.DAY_AHEAD), **intraday, **lines}

    # a resource's interval without a complete reading: settled at its schedule too
    res_metered = np.where(incomplete[1:], sched_mwh[1:], met_mwh[1:])
    res_lines: dict[str, IntArray] = {}
    if resources:
        res_lines = engine.settle_energy(
            EnergyIntervals(
                scheduled_mwh=sched_mwh[1:],
                metered_mwh=res_metered,
                day_ahead_price=da,
                real_time_price=rt_long,
                real_time_short_price=rt_short,
            ),
            rules,
        )
    details = _details(
        intervals,
        resources,
        vpp=(position, vpp_metered, estimated, lines),
        resource=(
            units.energy(sched_mwh[1:], name="scheduled"),
            units.energy(res_metered, name="metered"),
            incomplete[1:],
            res_lines,
        ),
    )
    inputs = {
        "area": area,
        "day_ahead": {"market": market.code, "product": product, "series": "price"},
        "real_time": _rt_source(req, market),
        "fills": traded.fills + other.fills,
        "meter_rows": len(rows),
        "settlement": rules.model_dump(mode="json"),
    }
    prices = {
        "day_ahead": units.price(da).tolist(),
        "real_time": units.price(rt_long).tolist(),
    }
    if rt_short is not None and rules.imbalance_pricing == "dual":
        prices["real_time_short"] = units.price(rt_short).tolist()
    return Day(
        intervals=intervals,
        lines=lines,
        details=details,
        estimated=int(estimated.sum()),
        resources=len(resources),
        input_hash=_digest(details, lines, prices, inputs),
        inputs=inputs,
        prices=prices,
    )


def _response_day(
    markets: Mapping[str, Market],
    uow: UnitOfWork,
    organization_id: str,
    req: CalculateRequest,
    market: Market,
    area: str,
    day: date,
) -> Day:
    """A demand-response market's day (:mod:`openvpp.settlement.demand_response`)."""
    rules = market.settlement
    assert rules.baseline is not None
    intervals = delivery_intervals(market, day)
    start, end = day_bounds(day, market.time_zone)
    history_start = start - timedelta(days=rules.baseline.lookback_days + 1)
    fills = [
        f
        for f in uow.dispatch.fills(organization_id, req.vpp_id, start, end)
        if f[0] == market.code
    ]
    history = uow.monitoring.meter_rows(
        organization_id, req.vpp_id, history_start, end, vpp_only=True
    )
    zone = ZoneInfo(market.time_zone)
    excluded = frozenset(
        d.astimezone(zone).date()
        for vpp_id, code, d in uow.settlement.fill_days(organization_id, history_start, start)
        if vpp_id == req.vpp_id and code == market.code
    )
    result = settle_response_day(
        fills,
        history,
        intervals,
        market,
        excluded_days=excluded,
        period_of=period_of(markets),
    )
    n = len(intervals)
    empty = np.zeros((0, n), dtype=np.int64)
    details = _details(
        intervals,
        [],
        vpp=(result.award, result.response, result.estimated, result.lines),
        resource=(empty, empty, np.zeros((0, n), dtype=bool), {}),
    )
    inputs = {
        "area": area,
        "awards": {"market": market.code, "fills": len(fills)},
        "baseline": {
            "method": rules.baseline.method.value,
            "days": [d.isoformat() for d in result.baseline_days],
            "adjustment": result.adjustment,
            "excluded_event_days": sorted(d.isoformat() for d in excluded),
        },
        "meter_rows": len(history),
        "settlement": rules.model_dump(mode="json"),
        "penalty": None if market.penalty is None else market.penalty.model_dump(mode="json"),
    }
    return Day(
        intervals=intervals,
        lines=result.lines,
        details=details,
        estimated=int(result.estimated.sum()),
        resources=0,
        input_hash=_digest(details, result.lines, {"response": result.price.tolist()}, inputs),
        inputs=inputs,
        prices={"response": result.price.tolist()},
    )


def _digest(
    details: IntervalDetails,
    lines: Mapping[str, IntArray],
    prices: Mapping[str, list[int]],
    inputs: Mapping[str, Any],
) -> str:
    """A hash of everything a run stores: its interval rows (ids, times, energies, estimated
    flags, amounts), its lines, the prices it applied and its inputs. A rerun whose result
    would be stored differently is never ``unchanged``."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(details.resource_ids).encode())
    digest.update("\x1f".join(t.isoformat() for t in details.starts).encode())
    for array in (details.minutes, details.scheduled, details.metered, details.estimated):
        digest.update(np.ascontiguousarray(array).tobytes())
    for name in AMOUNT_COLUMNS:
        digest.update(np.ascontiguousarray(details.amounts[name]).tobytes())
    for name in sorted(lines):
        digest.update(name.encode() + np.ascontiguousarray(lines[name]).tobytes())
    digest.update(repr(sorted(prices.items())).encode())
    digest.update(repr(sorted(inputs.items())).encode())
    return digest.hexdigest()


def stored_prices(
    uow: UnitOfWork,
    organization_id: str,
    key: SeriesKey,
    intervals: Sequence[DeliveryInterval],
    known_by: datetime,
) -> np.ndarray:
    """The latest value of ``key`` known by ``known_by``, averaged over each settlement
    interval."""
    first, last = intervals[0].start_utc, intervals[-1].end_utc
    stored = uow.market_data.stored(organization_id, key, first - timedelta(hours=4), last)
    stored = stored[stored["known_at"] <= pd.Timestamp(known_by)]
    if stored.empty:
        raise ValidationFailed(
            f"no {key.series} of {key.market} {key.area} {key.product} stored for "
            f"{first.isoformat()} .. {last.isoformat()}",
            field="market",
        )
    latest = stored.sort_values("known_at").groupby("start", sort=True).last()
    series = pd.Series(latest["value"].to_numpy(), index=pd.DatetimeIndex(latest.index))
    period = int(latest["period_min"].iloc[0])
    try:
        return align_to_grid(series, intervals, source_period_min=period)
    except ValueError as e:
        raise ValidationFailed(
            f"{key.series} of {key.market} {key.area} {key.product}: {e}", field="market"
        ) from None


def _real_time(
    uow: UnitOfWork,
    organization_id: str,
    req: CalculateRequest,
    market: Market,
    area: str,
    intervals: Sequence[DeliveryInterval],
    known_by: datetime,
) -> tuple[np.ndarray, np.ndarray | None]:
    code = req.real_time_market or market.code
    if req.real_time_product == IMBALANCE_PRODUCT:
        long_ = stored_prices(
            uow,
            organization_id,
            SeriesKey(code, area, IMBALANCE_PRODUCT, "imbalance_long"),
            intervals,
            known_by,
        )
        if market.settlement.imbalance_pricing == "single":
            return long_, None
        short = stored_prices(
            uow,
            organization_id,
            SeriesKey(code, area, IMBALANCE_PRODUCT, "imbalance_short"),
            intervals,
            known_by,
        )
        return long_, short
    price = stored_prices(
        uow,
        organization_id,
        SeriesKey(code, area, req.real_time_product, "price"),
        intervals,
        known_by,
    )
    return price, None


def _rt_source(req: CalculateRequest, market: Market) -> dict[str, str]:
    code = req.real_time_market or market.code
    if req.real_time_product == IMBALANCE_PRODUCT:
        return {"market": code, "product": IMBALANCE_PRODUCT, "series": "imbalance_long/short"}
    return {"market": code, "product": req.real_time_product, "series": "price"}


def period_of(markets: Mapping[str, Market]) -> Callable[[str, str], timedelta | None]:
    """A product's delivery period by market and product code (``None`` if unknown)."""

    def period(market: str, product: str) -> timedelta | None:
        m = markets.get(market)
        return None if m is None else m.period(product)

    return period


def _row_amounts(lines: Mapping[str, IntArray], shape: tuple[int, ...]) -> dict[str, IntArray]:
    out = {name: np.zeros(shape, dtype=np.int64) for name in AMOUNT_COLUMNS}
    for name, array in lines.items():
        column = "fees" if name.startswith(engine.FEE_PREFIX) else name
        out[column] = out[column] + array
    out["total"] = sum((a for k, a in out.items() if k != "total"), np.zeros(shape, dtype=np.int64))
    return out


def _details(
    intervals: Sequence[DeliveryInterval],
    resources: Sequence[str],
    *,
    vpp: tuple[IntArray, IntArray, np.ndarray, Mapping[str, IntArray]],
    resource: tuple[IntArray, IntArray, np.ndarray, Mapping[str, IntArray]],
) -> IntervalDetails:
    n, m = len(intervals), len(resources)
    starts = [iv.start_utc for iv in intervals]
    v_sched, v_met, v_est, v_lines = vpp
    r_sched, r_met, r_est, r_lines = resource
    v_amounts = _row_amounts(v_lines, (n,))
    r_amounts = _row_amounts(r_lines, (m, n))
    return IntervalDetails(
        resource_ids=[VPP_ROW] * n + [r for r in resources for _ in range(n)],
        starts=starts * (m + 1),
        minutes=np.tile(np.array([iv.minutes for iv in intervals], dtype=np.int64), m + 1),
        scheduled=np.concatenate([v_sched, r_sched.ravel()]).astype(np.int64),
        metered=np.concatenate([v_met, r_met.ravel()]).astype(np.int64),
        estimated=np.concatenate([v_est, r_est.ravel()]).astype(bool),
        amounts={
            k: np.concatenate([v_amounts[k], r_amounts[k].ravel()]).astype(np.int64)
            for k in AMOUNT_COLUMNS
        },
    )
