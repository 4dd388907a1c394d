"""Settlement runs: a VPP's market day settled from its fills, its meters and the market's
prices, stored with its interval details and posted to the ledger in one transaction.

Each local day is its own transaction: a crash leaves a day's run absent or complete, and a
calculation over many days resumes where it stopped (the days already settled on the same
inputs are returned ``unchanged``). A rerun on the same inputs writes nothing; on changed
inputs (late meter readings, late fills, revised prices) it writes the next version, marks
the previous one superseded and posts the reversal of its entries with the new ones, so the
ledger always holds the latest figures and the history of how they came about.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock
from openvpp.core.errors import NotFound, ValidationFailed
from openvpp.core.ids import new_id
from openvpp.core.money import IntArray
from openvpp.markets.calendar import DeliveryInterval, day_bounds, delivery_intervals
from openvpp.markets.imbalance import align_to_grid
from openvpp.markets.model import Market, Settlement
from openvpp.markets.presets import load_presets
from openvpp.markets.records import SeriesKey
from openvpp.ports import UnitOfWork
from openvpp.settlement import engine
from openvpp.settlement.contribution import (
    MAX_SHAPLEY,
    Contribution,
    cost_shares,
    market_revenue,
)
from openvpp.settlement.demand_response import settle_response_day
from openvpp.settlement.engine import EnergyIntervals
from openvpp.settlement.ledger import JournalEntry, Posting, entries_for_lines
from openvpp.settlement.positions import metered_by_interval, traded_by_interval
from openvpp.settlement.records import (
    AMOUNT_COLUMNS,
    VPP_ROW,
    DuplicateRun,
    IntervalDetails,
    RunFilter,
    SettlementRun,
)

__all__ = ["MAX_DAYS", "CalculateRequest", "RunOutcome", "SettlementService"]

MAX_DAYS = 92
"""Most local days one calculation settles."""

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
class RunOutcome:
    run: SettlementRun
    status: Literal["created", "unchanged", "revised"]


@dataclass(frozen=True)
class _Day:
    """A day's inputs on the settlement grid and what the run computed from them."""

    intervals: list[DeliveryInterval]
    lines: dict[str, IntArray]
    details: IntervalDetails
    estimated: int
    resources: int
    input_hash: str
    inputs: dict[str, Any]
    prices: dict[str, list[int]]


class SettlementService:
    def __init__(
        self,
        clock: Clock,
        markets: Callable[[], Mapping[str, Market]] = load_presets,
    ) -> None:
        self._clock = clock
        self._markets = markets

    # ------------------------------------------------------------------ commands

    def calculate(
        self, uow: UnitOfWork, organization_id: str, req: CalculateRequest
    ) -> list[RunOutcome]:
        """Settle every day of ``req``, one transaction per day, in order."""
        market = self._market(req.market)
        if req.last_day < req.first_day:
            raise ValidationFailed("last_day must not be before first_day", field="last_day")
        days = (req.last_day - req.first_day).days + 1
        if days > MAX_DAYS:
            raise ValidationFailed(
                f"at most {MAX_DAYS} days per calculation, got {days}", field="last_day"
            )
        if req.real_time_market is not None:
            self._market(req.real_time_market, field="real_time_market")
        product = self._price_product(market, req.product)
        with uow:
            vpp = uow.vpps.get(organization_id, req.vpp_id)
        if vpp is None:
            raise NotFound(f"VPP {req.vpp_id} not found", field="vpp_id")
        area = req.area or vpp.market_area
        return [
            self._settle_day(
                uow, organization_id, req, market, area, product, req.first_day + timedelta(d)
            )
            for d in range(days)
        ]

    def due(
        self,
        uow: UnitOfWork,
        organization_id: str,
        *,
        delay: timedelta,
        lookback_days: int,
    ) -> list[CalculateRequest]:
        """The market days to settle automatically: each local day of a VPP with fills that
        ended at least ``delay`` ago, within ``lookback_days``, without a run yet. A day is
        settled in the day-ahead market of its fills (a market whose products close the day
        before); the fills of other markets count as intraday there."""
        now = self._clock.now()
        markets = self._markets()
        with uow:
            rows = uow.settlement.fill_days(
                organization_id, now - timedelta(days=lookback_days + 1), now
            )
            if not rows:
                return []
            by_day: dict[tuple[str, date], set[str]] = {}
            for vpp_id, code, start in rows:
                market = markets.get(code)
                if market is None:
                    continue
                day = start.astimezone(ZoneInfo(market.time_zone)).date()
                if day_bounds(day, market.time_zone)[1] + delay <= now:
                    by_day.setdefault((vpp_id, day), set()).add(code)
            if not by_day:
                return []
            first = min(d for _, d in by_day)
            settled = uow.settlement.settled(organization_id, first, now.date())
        due = []
        for (vpp_id, day), codes in sorted(by_day.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            code = _settling_market(codes, markets)
            if (vpp_id, code, day) not in settled and now.date() - day <= timedelta(
                days=lookback_days
            ):
                due.append(
                    CalculateRequest(vpp_id=vpp_id, market=code, first_day=day, last_day=day)
                )
        return due

    # ------------------------------------------------------------------ queries

    def runs(
        self, uow: UnitOfWork, organization_id: str, f: RunFilter, limit: int, offset: int
    ) -> list[SettlementRun]:
        """The organization's runs, newest day first (latest versions unless asked)."""
        with uow:
            return uow.settlement.page(organization_id, f, limit, offset)

    def run(
        self,
        uow: UnitOfWork,
        organization_id: str,
        run_id: str,
        *,
        resource_id: str = VPP_ROW,
        limit: int,
        offset: int,
    ) -> tuple[SettlementRun, list[dict[str, Any]]]:
        """A run and its interval rows of ``resource_id`` (``""``: the VPP's)."""
        with uow:
            run = uow.settlement.get(organization_id, run_id)
            if run is None:
                raise NotFound(f"settlement run {run_id} not found", field="run_id")
            return run, uow.settlement.details(run_id, resource_id, limit, offset)

    def contribution(
        self,
        uow: UnitOfWork,
        organization_id: str,
        run_id: str,
        method: Literal["auto", "shapley", "pro_rata"] = "auto",
    ) -> tuple[SettlementRun, Contribution]:
        """Each resource's share of a run's result (:mod:`openvpp.settlement.contribution`):
        market revenue at the VPP's realised prices, costs by exact Shapley values (``auto``:
        up to :data:`MAX_SHAPLEY` resources) or in proportion to the deviations."""
        with uow:
            run = uow.settlement.get(organization_id, run_id)
            if run is None:
                raise NotFound(f"settlement run {run_id} not found", field="run_id")
            rows = uow.settlement.details(run_id, None, (run.resources + 1) * run.intervals, 0)
        if method == "shapley" and run.resources > MAX_SHAPLEY:
            raise ValidationFailed(
                f"exact Shapley values are offered up to {MAX_SHAPLEY} resources; this run has "
                f"{run.resources}: use pro_rata",
                field="method",
            )
        n, t = run.resources, run.intervals
        frame = pd.DataFrame(rows)
        vpp = frame[frame["resource_id"] == VPP_ROW]
        res = frame[frame["resource_id"] != VPP_ROW]
        ids = list(dict.fromkeys(res["resource_id"]))
        sched = res["scheduled"].to_numpy(dtype=np.int64).reshape(n, t)
        meter = res["metered"].to_numpy(dtype=np.int64).reshape(n, t)
        value = vpp[list(_REVENUE_COLUMNS)].to_numpy(dtype=np.int64).sum(axis=1)
        cost_total = int(vpp[list(_COST_COLUMNS)].to_numpy(dtype=np.int64).sum())
        revenue = market_revenue(value, vpp["scheduled"].to_numpy(dtype=np.int64), sched)
        use_shapley = method == "shapley" or (method == "auto" and n <= MAX_SHAPLEY)
        game = _coalition_costs(run, sched, meter) if use_shapley and n else None
        costs = cost_shares(cost_total, meter - sched, game)
        return run, Contribution(ids, revenue, costs, "shapley" if game else "pro_rata")

    def balances(
        self,
        uow: UnitOfWork,
        organization_id: str,
        *,
        first: date | None,
        last: date | None,
        by_period: bool,
        vpp_id: str | None,
    ) -> list[tuple[str, date | None, str, int]]:
        """Ledger balances per account (and period) and currency [minor units, debit +]."""
        if first is not None and last is not None and last < first:
            raise ValidationFailed("last_day must not be before first_day", field="last_day")
        with uow:
            return uow.ledger.balances(
                organization_id, first=first, last=last, by_period=by_period, vpp_id=vpp_id
            )

    def _market(self, code: str, *, field: str = "market") -> Market:
        market = self._markets().get(code)
        if market is None:
            raise ValidationFailed(f"unknown market {code!r}", field=field)
        return market

    @staticmethod
    def _price_product(market: Market, code: str | None) -> str:
        if code is not None:
            try:
                return market.product(code).code
            except KeyError as e:
                raise ValidationFailed(str(e.args[0]), field="product") from None
        for p in market.products:
            if p.period_min == market.settlement.period_min:
                return p.code
        return market.products[0].code

    def _settle_day(
        self,
        uow: UnitOfWork,
        organization_id: str,
        req: CalculateRequest,
        market: Market,
        area: str,
        product: str,
        day: date,
    ) -> RunOutcome:
        try:
            return self._settle_day_once(uow, organization_id, req, market, area, product, day)
        except DuplicateRun:
            # a concurrent calculation stored this version first (its transaction rolled ours
            # back whole): once more, which finds it unchanged or revises it
            return self._settle_day_once(uow, organization_id, req, market, area, product, day)

    def _settle_day_once(
        self,
        uow: UnitOfWork,
        organization_id: str,
        req: CalculateRequest,
        market: Market,
        area: str,
        product: str,
        day: date,
    ) -> RunOutcome:
        with uow:
            data = self._compute(uow, organization_id, req, market, area, product, day)
            latest = uow.settlement.latest(organization_id, req.vpp_id, market.code, day)
            if latest is not None and latest.input_hash == data.input_hash:
                return RunOutcome(latest, "unchanged")
            totals = {name: int(a.sum()) for name, a in data.lines.items()}
            run = SettlementRun(
                id=new_id(),
                organization_id=organization_id,
                vpp_id=req.vpp_id,
                market=market.code,
                area=area,
                day=day,
                version=1 if latest is None else latest.version + 1,
                input_hash=data.input_hash,
                currency=market.currency,
                minor_unit=market.settlement.minor_unit,
                energy_step_mwh=market.settlement.energy_step_mwh,
                intervals=len(data.intervals),
                resources=data.resources,
                estimated_intervals=data.estimated,
                totals=totals,
                total=sum(totals.values()),
                inputs=data.inputs,
                prices=data.prices,
                superseded_by=None,
                created_at=self._clock.now(),
                created_by=uow.context.actor_id,
            )
            uow.settlement.add(run, data.details)
            entries = entries_for_lines(
                run.id,
                day,
                totals,
                currency=market.currency,
                dimensions={"vpp": req.vpp_id, "market": market.code},
            )
            if latest is not None:
                entries = [*_reversals(uow.ledger.entries_of_run(latest.id)), *entries]
                uow.settlement.supersede(latest.id, run.id)
            uow.ledger.post(organization_id, run.id, entries, run.created_at)
            uow.record(
                AuditEvent(
                    "settlement.calculate",
                    "settlement_run",
                    run.id,
                    after={
                        "vpp_id": run.vpp_id,
                        "market": run.market,
                        "day": day.isoformat(),
                        "version": run.version,
                        "total": run.total,
                        "supersedes": None if latest is None else latest.id,
                    },
                )
            )
            uow.commit()
        return RunOutcome(run, "created" if latest is None else "revised")

    # ------------------------------------------------------------------ inputs

    def _compute(
        self,
        uow: UnitOfWork,
        organization_id: str,
        req: CalculateRequest,
        market: Market,
        area: str,
        product: str,
        day: date,
    ) -> _Day:
        rules = market.settlement
        if rules.baseline is not None:
            return self._compute_response(uow, organization_id, req, market, area, day)
        units = engine.units_for(rules)
        intervals = delivery_intervals(market, day)
        start, end = day_bounds(day, market.time_zone)

        fills = uow.dispatch.fills(organization_id, req.vpp_id, start, end)
        in_market = [f for f in fills if f[0] == market.code]
        elsewhere = [f for f in fills if f[0] != market.code]
        period_of = _period_of(self._markets())
        traded = traded_by_interval(in_market, intervals, period_of, units)
        other = traded_by_interval(elsewhere, intervals, period_of, units)
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

        da = self._prices(
            uow, organization_id, SeriesKey(market.code, area, product, "price"), intervals
        )
        rt_long, rt_short = self._real_time(uow, organization_id, req, market, area, intervals)
        step = float(units.energy_step_mwh)
        lines = engine.settle_energy(
            EnergyIntervals(
                scheduled_mwh=position * step,
                metered_mwh=vpp_metered * step,
                day_ahead_price=da,
                real_time_price=rt_long,
                real_time_short_price=rt_short,
                traded_value=traded.value,
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
        digest = hashlib.sha256()
        for array in (
            position,
            traded.value,
            other.value,
            vpp_metered,
            units.price(da),
            units.price(rt_long),
        ):
            digest.update(np.ascontiguousarray(array).tobytes())
        if rt_short is not None:
            digest.update(units.price(rt_short).tobytes())
        for name in sorted(res_lines):
            digest.update(name.encode() + res_lines[name].tobytes())
        digest.update(repr(sorted(inputs.items())).encode())
        return _Day(
            intervals=intervals,
            lines=lines,
            details=details,
            estimated=int(estimated.sum()),
            resources=len(resources),
            input_hash=digest.hexdigest(),
            inputs=inputs,
            prices=prices,
        )

    def _compute_response(
        self,
        uow: UnitOfWork,
        organization_id: str,
        req: CalculateRequest,
        market: Market,
        area: str,
        day: date,
    ) -> _Day:
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
            period_of=_period_of(self._markets()),
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
        digest = hashlib.sha256()
        for array in (result.award, result.response, result.price, result.estimated):
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(repr(sorted(inputs.items())).encode())
        return _Day(
            intervals=intervals,
            lines=result.lines,
            details=details,
            estimated=int(result.estimated.sum()),
            resources=0,
            input_hash=digest.hexdigest(),
            inputs=inputs,
            prices={"response": result.price.tolist()},
        )

    def _prices(
        self,
        uow: UnitOfWork,
        organization_id: str,
        key: SeriesKey,
        intervals: Sequence[DeliveryInterval],
    ) -> np.ndarray:
        """The latest known value of ``key`` averaged over each settlement interval."""
        first, last = intervals[0].start_utc, intervals[-1].end_utc
        stored = uow.market_data.stored(organization_id, key, first - timedelta(hours=4), last)
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
        self,
        uow: UnitOfWork,
        organization_id: str,
        req: CalculateRequest,
        market: Market,
        area: str,
        intervals: Sequence[DeliveryInterval],
    ) -> tuple[np.ndarray, np.ndarray | None]:
        code = req.real_time_market or market.code
        if req.real_time_product == IMBALANCE_PRODUCT:
            long_ = self._prices(
                uow,
                organization_id,
                SeriesKey(code, area, IMBALANCE_PRODUCT, "imbalance_long"),
                intervals,
            )
            short = self._prices(
                uow,
                organization_id,
                SeriesKey(code, area, IMBALANCE_PRODUCT, "imbalance_short"),
                intervals,
            )
            return long_, short
        price = self._prices(
            uow, organization_id, SeriesKey(code, area, req.real_time_product, "price"), intervals
        )
        return price, None


_REVENUE_COLUMNS = (engine.DAY_AHEAD, engine.INTRADAY, engine.CFD)
_COST_COLUMNS = (engine.IMBALANCE, engine.DEVIATION, "fees")


def _coalition_costs(
    run: SettlementRun, sched: IntArray, meter: IntArray
) -> Callable[[NDArray[np.int64]], IntArray]:
    """The costs (imbalance, deviation penalty, fees) of each coalition of a membership matrix,
    settled alone under the run's own rules and prices."""
    rules = Settlement.model_validate(run.inputs["settlement"])
    tick, step = float(engine.PRICE_TICK), float(rules.energy_step_mwh)
    da = np.asarray(run.prices["day_ahead"], dtype=np.float64) * tick
    rt = np.asarray(run.prices["real_time"], dtype=np.float64) * tick
    short = run.prices.get("real_time_short")
    rt_short = None if short is None else np.asarray(short, dtype=np.float64) * tick

    def costs(members: NDArray[np.int64]) -> IntArray:
        lines = engine.settle_energy(
            EnergyIntervals(
                scheduled_mwh=(members @ sched) * step,
                metered_mwh=(members @ meter) * step,
                day_ahead_price=da,
                real_time_price=rt,
                real_time_short_price=rt_short,
            ),
            rules,
        )
        lines.pop(engine.DAY_AHEAD)
        out: IntArray = engine.total(lines).sum(axis=1)
        return out

    return costs


def _settling_market(codes: set[str], markets: Mapping[str, Market]) -> str:
    """The day-ahead market among ``codes`` (products gated the day before), else the first."""
    day_ahead = sorted(
        c for c in codes if any(p.gate_closure.kind == "day_before" for p in markets[c].products)
    )
    return day_ahead[0] if day_ahead else sorted(codes)[0]


def _rt_source(req: CalculateRequest, market: Market) -> dict[str, str]:
    code = req.real_time_market or market.code
    if req.real_time_product == IMBALANCE_PRODUCT:
        return {"market": code, "product": IMBALANCE_PRODUCT, "series": "imbalance_long/short"}
    return {"market": code, "product": req.real_time_product, "series": "price"}


def _period_of(markets: Mapping[str, Market]) -> Callable[[str, str], timedelta | None]:
    def period(market: str, product: str) -> timedelta | None:
        m = markets.get(market)
        if m is None:
            return None
        for p in m.products:
            if p.code == product:
                return timedelta(minutes=p.period_min)
        return None

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


def _reversals(entries: Sequence[JournalEntry]) -> list[JournalEntry]:
    """Entries that cancel ``entries`` (same accounts and dimensions, negated amounts)."""
    return [
        JournalEntry(
            entry_id=f"{e.entry_id}:reversal",
            period=e.period,
            description=f"reversal of {e.description}",
            postings=tuple(Posting(p.account, -p.amount, p.dimensions) for p in e.postings),
            currency=e.currency,
        )
        for e in entries
    ]
