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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock
from openvpp.core.errors import NotFound, ValidationFailed
from openvpp.core.ids import new_id
from openvpp.markets.calendar import day_bounds
from openvpp.markets.model import Market, Settlement
from openvpp.markets.presets import load_presets
from openvpp.ports import UnitOfWork
from openvpp.settlement.analysis import classify, pnl_table, run_lines
from openvpp.settlement.contribution import (
    COST_COLUMNS,
    MAX_SHAPLEY,
    REVENUE_COLUMNS,
    Contribution,
    coalition_costs,
    cost_shares,
    market_revenue,
)
from openvpp.settlement.day import CalculateRequest, Day, compute_day
from openvpp.settlement.ledger import JournalEntry, Posting, entries_for_lines
from openvpp.settlement.records import (
    VPP_ROW,
    DuplicateRun,
    RunFilter,
    SettlementRun,
)
from openvpp.settlement.reports import Format, ReportData, render

__all__ = ["MAX_DAYS", "CalculateRequest", "RunOutcome", "SettlementService"]

MAX_DAYS = 92
"""Most local days one calculation settles."""
MAX_ALLOCATED_RUNS = 400
"""Most runs an analysis by resource allocates (one contribution each)."""
ANALYSIS_SHAPLEY = 10
"""Analyses use exact Shapley values up to this many resources (1,024 coalitions a run), pro
rata above: a contribution request alone goes up to :data:`MAX_SHAPLEY`."""


@dataclass(frozen=True)
class RunOutcome:
    run: SettlementRun
    status: Literal["created", "unchanged", "revised"]


class SettlementService:
    def __init__(
        self,
        clock: Clock,
        markets: Callable[[], Mapping[str, Market]] = load_presets,
        reader: Callable[[], UnitOfWork] | None = None,
    ) -> None:
        """``reader`` makes the read-only unit of work (one snapshot) in which a day is
        computed before its write transaction; without it the day is computed inside the write
        transaction, which on SQLite holds the writer lock (orders, telemetry) meanwhile."""
        self._clock = clock
        self._markets = markets
        self._reader = reader

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
        revise_after: timedelta | None = None,
    ) -> list[CalculateRequest]:
        """The market days to settle automatically: each local day of a VPP with fills that
        ended at least ``delay`` ago, within ``lookback_days``, without a run yet; with
        ``revise_after``, also each day whose latest run was stored before its end plus
        ``revise_after`` once that time has passed (its final calculation: late meter
        readings, fills and prices revise it, the same inputs leave it unchanged). A day is
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
            if now.date() - day > timedelta(days=lookback_days):
                continue
            energy = {c for c in codes if markets[c].settlement.baseline is None}
            # each demand-response market settles on its own; the energy markets together
            targets = sorted(codes - energy) + (
                [_settling_market(energy, markets)] if energy else []
            )
            for code in targets:
                stored = settled.get((vpp_id, code, day))
                final = None
                if revise_after is not None:
                    final = day_bounds(day, markets[code].time_zone)[1] + revise_after
                if stored is None or (final is not None and stored < final <= now):
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
            columns = uow.settlement.columns(
                run_id, ("scheduled", "metered", *REVENUE_COLUMNS, *COST_COLUMNS)
            )
        if run.resources == 0:
            raise ValidationFailed(
                f"settlement run {run_id} has no resource rows to allocate to", field="run_id"
            )
        if method == "shapley" and run.resources > MAX_SHAPLEY:
            raise ValidationFailed(
                f"exact Shapley values are offered up to {MAX_SHAPLEY} resources; this run has "
                f"{run.resources}: use pro_rata",
                field="method",
            )
        n, t = run.resources, run.intervals
        # rows by resource id then start: the VPP's ("") first, then each resource's
        ids = [str(r) for r in columns["resource_id"][t::t]]
        sched = columns["scheduled"][t:].reshape(n, t)
        meter = columns["metered"][t:].reshape(n, t)
        value = sum(columns[c][:t] for c in REVENUE_COLUMNS)
        cost_total = int(sum(int(columns[c][:t].sum()) for c in COST_COLUMNS))
        revenue = market_revenue(value, columns["scheduled"][:t], sched)
        use_shapley = method == "shapley" or (method == "auto" and n <= MAX_SHAPLEY)
        game = (
            coalition_costs(
                Settlement.model_validate(run.inputs["settlement"]), run.prices, sched, meter
            )
            if use_shapley and n
            else None
        )
        costs = cost_shares(cost_total, meter - sched, game)
        return run, Contribution(ids, revenue, costs, "shapley" if game else "pro_rata")

    def revenue(
        self,
        uow: UnitOfWork,
        organization_id: str,
        *,
        first: date,
        last: date,
        by: Sequence[str],
        vpp_id: str | None = None,
    ) -> pd.DataFrame:
        """Revenue, costs and P&L of the latest runs of ``first`` … ``last`` [minor units]
        grouped ``by`` (:data:`openvpp.settlement.analysis.GROUPS`); by ``resource`` or
        ``resource_type`` through each run's contribution (``auto``)."""
        runs = self._runs_between(uow, organization_id, first, last, vpp_id)
        return self._revenue_of(uow, organization_id, runs, by)

    def _revenue_of(
        self, uow: UnitOfWork, organization_id: str, runs: list[SettlementRun], by: Sequence[str]
    ) -> pd.DataFrame:
        if not {"resource", "resource_type"} & set(by):
            return pnl_table(run_lines(runs), by)
        with_resources = sum(1 for r in runs if r.resources)
        if with_resources > MAX_ALLOCATED_RUNS:
            raise ValidationFailed(
                f"{with_resources} runs with resources in the range, more than "
                f"{MAX_ALLOCATED_RUNS} to allocate per resource; narrow it",
                field="first_day",
            )
        rows: list[tuple[Any, ...]] = []
        for run in runs:
            base = (run.id, run.vpp_id, run.market, run.currency, run.day)
            if run.resources == 0:
                for line, amount in run.totals.items():
                    rows.append((*base, VPP_ROW, classify(line), amount))
                continue
            method: Literal["auto", "pro_rata"] = (
                "auto" if run.resources <= ANALYSIS_SHAPLEY else "pro_rata"
            )
            _, c = self.contribution(uow, organization_id, run.id, method)
            for i, rid in enumerate(c.resource_ids):
                rows.append((*base, rid, "revenue", int(c.market_revenue[i])))
                rows.append((*base, rid, "costs", int(c.costs[i])))
        columns = ["run_id", "vpp", "market", "currency", "day", "resource", "kind", "amount"]
        frame = pd.DataFrame(rows, columns=columns)
        ids = sorted({r for r in frame["resource"] if r})
        with uow:
            types = {
                rid: r.resource_type.value
                for rid in ids
                if (r := uow.resources.get(organization_id, rid)) is not None
            }
        frame["resource_type"] = [
            "vpp" if not r else types.get(r, "unknown") for r in frame["resource"]
        ]
        frame["amount"] = frame["amount"].astype("int64")
        return pnl_table(frame, by)

    def performance(
        self,
        uow: UnitOfWork,
        organization_id: str,
        *,
        first: date,
        last: date,
        vpp_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Per latest run: energy scheduled and metered, absolute deviation and its share of
        the schedule, estimated intervals, P&L and P&L per MWh scheduled."""
        runs = self._runs_between(uow, organization_id, first, last, vpp_id)
        return self._performance_of(uow, runs)

    @staticmethod
    def _performance_of(uow: UnitOfWork, runs: list[SettlementRun]) -> list[dict[str, Any]]:
        with uow:
            delivery = uow.settlement.delivery([r.id for r in runs])
        out = []
        for run in runs:
            sched_abs, dev_abs, sched, met = delivery.get(run.id, (0, 0, 0, 0))
            step = run.energy_step_mwh
            out.append(
                {
                    "run_id": run.id,
                    "vpp_id": run.vpp_id,
                    "market": run.market,
                    "day": run.day,
                    "currency": run.currency,
                    "scheduled_mwh": sched * step,
                    "metered_mwh": met * step,
                    "scheduled_abs_mwh": sched_abs * step,
                    "deviation_abs_mwh": dev_abs * step,
                    "deviation_share": (None if not sched_abs else round(dev_abs / sched_abs, 6)),
                    "estimated_intervals": run.estimated_intervals,
                    "intervals": run.intervals,
                    "pnl": run.total * run.minor_unit,
                    "pnl_per_mwh": (
                        None
                        if not sched_abs
                        else (run.total * run.minor_unit / (sched_abs * step)).quantize(
                            Decimal("0.0001")
                        )
                    ),
                }
            )
        return out

    def report(
        self,
        uow: UnitOfWork,
        organization_id: str,
        *,
        first: date,
        last: date,
        fmt: Format,
        vpp_id: str | None = None,
    ) -> tuple[bytes, str, str]:
        """The period's settlement report (:mod:`openvpp.settlement.reports`): bytes, media
        type, file name."""
        runs = self._runs_between(uow, organization_id, first, last, vpp_id)
        units = {r.currency: r.minor_unit for r in runs}
        lines = run_lines(runs)
        data = ReportData(
            title="Settlement report" + (f" of VPP {vpp_id}" if vpp_id else ""),
            first_day=first,
            last_day=last,
            daily=pnl_table(lines, ["day", "vpp", "market"]),
            markets=pnl_table(lines, ["market"]),
            resource_types=self._revenue_of(uow, organization_id, runs, ["resource_type"]),
            performance=[
                {k: v for k, v in p.items() if k != "run_id"}
                for p in self._performance_of(uow, runs)
            ],
            minor_units=units,
            notes=[
                f"{len(runs)} settlement runs (latest versions); amounts in each run's currency.",
                "Revenue: day-ahead, intraday, contracts for difference, demand response. "
                "Costs: imbalance, penalties, fees. Per resource type through each run's "
                "contribution.",
            ],
        )
        return render(data, fmt)

    MAX_ANALYSED_RUNS = 5_000

    def _runs_between(
        self,
        uow: UnitOfWork,
        organization_id: str,
        first: date,
        last: date,
        vpp_id: str | None,
    ) -> list[SettlementRun]:
        if last < first:
            raise ValidationFailed("last_day must not be before first_day", field="last_day")
        f = RunFilter(vpp_id=vpp_id, first_day=first, last_day=last)
        with uow:
            runs = uow.settlement.page(organization_id, f, self.MAX_ANALYSED_RUNS + 1, 0)
        if len(runs) > self.MAX_ANALYSED_RUNS:
            raise ValidationFailed(
                f"more than {self.MAX_ANALYSED_RUNS} runs in the range; narrow it",
                field="first_day",
            )
        return sorted(runs, key=lambda r: (r.day, r.vpp_id, r.market))

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
        def compute(source: UnitOfWork) -> Day:
            return compute_day(
                self._markets(),
                source,
                organization_id,
                req,
                market,
                area,
                product,
                day,
                self._clock.now(),
            )

        started = self._clock.now()  # inputs read from here on: the time a check stands for
        data: Day | None = None
        seen: str | None = None  # the latest version's id in the snapshot computed from
        if self._reader is not None:
            # read and compute without the writer lock; the write below checks the version
            with self._reader() as reader:
                data = compute(reader)
                base = reader.settlement.latest(organization_id, req.vpp_id, market.code, day)
                seen = None if base is None else base.id
        with uow:
            latest = uow.settlement.latest(organization_id, req.vpp_id, market.code, day)
            if data is None or seen != (None if latest is None else latest.id):
                # another calculation stored a version after our snapshot, perhaps from newer
                # inputs: computed again here, so a run never replaces newer figures by older
                data = compute(uow)
            if latest is not None and latest.input_hash == data.input_hash:
                # stored, so that the loop's final calculation is not due again (restarts too);
                # the time the inputs were read from, not the end of the computation
                uow.settlement.checked(latest.id, started)
                uow.commit()
                return RunOutcome(replace(latest, checked_at=started), "unchanged")
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
                # the reversal of the superseded version's own entries (not of the reversals
                # it posted itself: those already cancelled the version before it)
                previous = entries_for_lines(
                    latest.id,
                    latest.day,
                    latest.totals,
                    currency=latest.currency,
                    dimensions={"vpp": latest.vpp_id, "market": latest.market},
                )
                entries = [*_reversals(previous), *entries]
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


def _settling_market(codes: set[str], markets: Mapping[str, Market]) -> str:
    """The day-ahead market among ``codes`` (products gated the day before), else the first."""
    day_ahead = sorted(
        c for c in codes if any(p.gate_closure.kind == "day_before" for p in markets[c].products)
    )
    return day_ahead[0] if day_ahead else sorted(codes)[0]


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
