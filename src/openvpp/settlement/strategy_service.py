"""Strategy performance: each automatic bidding strategy (an auto-trading setting of a VPP on
a market's product) judged by its days: what its decision expected, what the settlement
paid, and what the same flexibility would have earned with perfect foresight of the prices
(docs/settlement.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from openvpp.core.clock import Clock
from openvpp.core.errors import NotFound, ValidationFailed
from openvpp.markets.calendar import delivery_intervals
from openvpp.markets.model import Market
from openvpp.markets.presets import load_presets
from openvpp.markets.records import SeriesKey
from openvpp.ports import UnitOfWork
from openvpp.settlement import engine
from openvpp.settlement.day import stored_prices
from openvpp.settlement.strategy import perfect_foresight_value
from openvpp.trading.autobid_records import AutoTradingSetting

__all__ = ["MAX_STRATEGY_DAYS", "StrategyService", "strategy_id"]

MAX_STRATEGY_DAYS = 92


def strategy_id(vpp_id: str, market: str, product: str) -> str:
    """A strategy's id: its auto-trading setting's key."""
    return f"{vpp_id}:{market}:{product}"


@dataclass(frozen=True)
class _Key:
    vpp_id: str
    market: str
    product: str


class StrategyService:
    def __init__(
        self, clock: Clock, markets: Callable[[], Mapping[str, Market]] = load_presets
    ) -> None:
        self._clock = clock
        self._markets = markets

    def strategies(self, uow: UnitOfWork, organization_id: str) -> list[AutoTradingSetting]:
        """The organization's automatic bidding strategies (auto-trading settings)."""
        with uow:
            return uow.auto_trading.of_org(organization_id)

    def performance(
        self, uow: UnitOfWork, organization_id: str, sid: str, first: date, last: date
    ) -> dict[str, Any]:
        """Per decided day of ``first`` … ``last``: the decision's expected revenue, the
        settled day-ahead revenue and P&L, the perfect-foresight value of the decision's
        flexibility at the prices known now, and the capture ratio (settled day-ahead revenue
        / perfect-foresight value); and the period's sums."""
        key = self._parse(sid)
        if last < first:
            raise ValidationFailed("last_day must not be before first_day", field="last_day")
        if (last - first).days + 1 > MAX_STRATEGY_DAYS:
            raise ValidationFailed(f"at most {MAX_STRATEGY_DAYS} days", field="last_day")
        market = self._markets().get(key.market)
        with uow:
            setting = uow.auto_trading.get(organization_id, key.vpp_id, key.market, key.product)
            vpp = uow.vpps.get(organization_id, key.vpp_id)
        if setting is None or vpp is None or market is None:
            raise NotFound(f"strategy {sid} not found", field="strategy_id")
        product = market.product(key.product)
        now = self._clock.now()
        days: list[dict[str, Any]] = []
        for k in range((last - first).days + 1):
            day = first + timedelta(days=k)
            with uow:
                decision = uow.bid_decisions.of_day(
                    organization_id, key.vpp_id, key.market, key.product, day
                )
                run = uow.settlement.latest(organization_id, key.vpp_id, key.market, day)
                if decision is None:
                    continue
                intervals = delivery_intervals(product, day)
                try:
                    prices = stored_prices(
                        uow,
                        organization_id,
                        SeriesKey(key.market, vpp.market_area, key.product, "price"),
                        intervals,
                        now,
                    )
                except ValidationFailed:
                    prices = None
            optimum = (
                None
                if prices is None
                else perfect_foresight_value(
                    decision.inputs.get("flexibility", {}), prices, product.period_min / 60
                )
            )
            settled = None
            pnl = None
            if run is not None and run.superseded_by is None:
                settled = run.totals.get(engine.DAY_AHEAD, 0) * run.minor_unit
                pnl = run.total * run.minor_unit
            capture = None
            if settled is not None and optimum is not None and optimum > 0:
                capture = round(float(settled) / optimum, 4)
            days.append(
                {
                    "day": day,
                    "decision_id": decision.id,
                    "status": decision.status,
                    "strategy": decision.strategy,
                    "expected_revenue": decision.result.get("expected_revenue"),
                    "settled_revenue": settled,
                    "pnl": pnl,
                    "perfect_foresight_revenue": None if optimum is None else round(optimum, 2),
                    "capture_ratio": capture,
                }
            )
        compared = [
            d for d in days if d["settled_revenue"] is not None and d["perfect_foresight_revenue"]
        ]
        settled_sum = sum((d["settled_revenue"] for d in compared), Decimal(0))
        optimum_sum = sum(d["perfect_foresight_revenue"] for d in compared)
        return {
            "strategy_id": sid,
            "vpp_id": key.vpp_id,
            "market": key.market,
            "product": key.product,
            "strategy": setting.strategy,
            "currency": market.currency,
            "days": days,
            "compared_days": len(compared),
            "settled_revenue": settled_sum,
            "perfect_foresight_revenue": round(optimum_sum, 2),
            "capture_ratio": (
                round(float(settled_sum) / optimum_sum, 4) if optimum_sum > 0 else None
            ),
        }

    @staticmethod
    def _parse(sid: str) -> _Key:
        parts = sid.split(":")
        if len(parts) != 3 or not all(parts):
            raise ValidationFailed(
                "strategy_id is '<vpp_id>:<market>:<product>'", field="strategy_id"
            )
        return _Key(*parts)
