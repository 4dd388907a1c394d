"""Automatic bidding (pure): a VPP's aggregated flexibility and a price forecast turned into
the optimal schedule and the orders of one auction day, with everything needed to explain the
decision later; and the scheduling rule that says which decisions are due.

**Decision.** The VPP's flexibility envelope over the product's delivery intervals (baseline,
power bounds, cumulative energy bounds, ramps: :class:`~openvpp.aggregation.engine.Flex`) is one
:class:`~openvpp.optimization.units.FlexUnit`. The price forecast is p10/p50/p90 per interval.

- ``schedule``: the schedule that maximises the expected revenue over the three quantiles as a
  three-point distribution (weights 0.3/0.4/0.3) is bid as price-taking orders: the *change*
  from the baseline is traded (the baseline is the VPP's own consumption or generation, already
  balanced), sold at the price floor or bought at the cap, in whole lots;
- ``curve``: monotone price-quantity curves, coupled across the day's intervals, that do best
  over price paths drawn around the quantiles, each path's awards followed by the VPP's whole
  model and corrected intraday where it cannot follow them (a two-stage stochastic LP:
  :mod:`openvpp.optimization.coupled`), bid as limit orders on the market's ticks and lots
  (:func:`~openvpp.optimization.formats.limit_orders`).

Client order ids derive from the decision id, so resubmitting a decision is idempotent.

**Schedule.** A decision for (VPP, market, product, local day D) is due from the moment the
gate of D's first interval is less than ``lead`` away, until that gate closure minus the
safety ``margin``; it is never due twice (one decision per day, enforced by the store).

Powers [MW] injection (sale) positive; prices [currency/MWh]; energy [MWh].
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from openvpp.aggregation.engine import Flex
from openvpp.markets.calendar import delivery_intervals, gate_closure
from openvpp.markets.connectors.protocol import OrderRequest, OrderSide
from openvpp.markets.model import Market, Product
from openvpp.optimization.bids import path_scenarios
from openvpp.optimization.coupled import CoupledCurves, coupled_curves
from openvpp.optimization.formats import client_order_id, limit_orders
from openvpp.optimization.ladders import round_to_lots
from openvpp.optimization.schedule import ScheduleMarket, optimize_schedule
from openvpp.optimization.units import FlexUnit, Unit
from openvpp.trading.records import SubmitOrder

__all__ = [
    "BidDecision",
    "BidInputs",
    "Due",
    "curve_bids",
    "decide",
    "due_decisions",
]

FloatArray = NDArray[np.float64]
BidStrategy = Literal["schedule", "curve"]
QUANTILE_WEIGHTS = np.array([0.3, 0.4, 0.3])  # p10/p50/p90 as a three-point distribution
CURVE_SCENARIOS = 100  # price paths of the curve strategy
CURVE_HOURLY_CORRELATION = 0.9  # of the paths' levels between consecutive hours
CURVE_LEVELS = 8  # bid price levels per interval of the curve strategy
RECOURSE_SPREAD = 5.0  # what the curve strategy expects a MWh corrected intraday to cost


@dataclass(frozen=True)
class BidInputs:
    """What a decision is made from.

    flex : the VPP's flexibility on the product's intervals of ``day`` (1-D arrays, (T,)).
    quantiles : (T, 3) p10/p50/p90 price forecasts [currency/MWh].
    forecast : where the forecast came from (model, version, run, issued at), for the record.
    """

    decision_id: str
    vpp_id: str
    market: Market
    product: Product
    day: date
    flex: Flex
    quantiles: FloatArray
    forecast: dict[str, Any]
    strategy: BidStrategy = "schedule"
    connection_id: str | None = None

    def __post_init__(self) -> None:
        t = len(delivery_intervals(self.product, self.day))
        q = np.asarray(self.quantiles, dtype=np.float64)
        if q.shape != (t, 3) or not np.isfinite(q).all():
            raise ValueError(f"quantiles: need finite (T={t}, 3) prices, got shape {q.shape}")
        if self.flex.p_min_mw.shape != (t,):
            raise ValueError(f"flex: need {t} intervals, got {self.flex.p_min_mw.shape}")
        if self.strategy not in ("schedule", "curve"):
            raise ValueError(f"strategy: schedule or curve, got {self.strategy!r}")


@dataclass(frozen=True)
class BidDecision:
    """The orders of one decision and what explains them: the optimal schedule (T,) [MW], the
    expected revenue [currency] and the optimizer's report."""

    decision_id: str
    orders: list[SubmitOrder]
    schedule_mw: FloatArray
    baseline_mw: FloatArray
    expected_revenue: float
    optimizer: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        return {
            "orders": len(self.orders),
            "schedule_mw": [round(float(x), 4) for x in self.schedule_mw],
            "baseline_mw": [round(float(x), 4) for x in self.baseline_mw],
            "expected_revenue": round(self.expected_revenue, 2),
            **self.optimizer,
        }


def decide(inputs: BidInputs) -> BidDecision:
    """The optimal schedule of ``inputs`` and its orders (module docstring)."""
    m, p = inputs.market, inputs.product
    intervals = delivery_intervals(p, inputs.day)
    dt_h = p.period_min / 60
    unit = FlexUnit.from_flex(inputs.flex, name=inputs.vpp_id)
    q = np.asarray(inputs.quantiles, dtype=np.float64)
    result = optimize_schedule([unit], ScheduleMarket(q.T, dt_h, probabilities=QUANTILE_WEIGHTS))
    baseline = np.asarray(inputs.flex.baseline_mw, dtype=np.float64)
    report: dict[str, Any] = {
        "status": result.status,
        "objective": round(result.objective, 4),
        "mip_gap": result.mip_gap,
        "binaries": result.n_binaries,
        "build_s": round(result.build_s, 4),
        "solve_s": round(result.solve_s, 4),
        "penalty_cost": round(result.slacks.cost, 4),
        "strategy": inputs.strategy,
    }
    if inputs.strategy == "schedule":
        starts = [iv.start_utc for iv in intervals]
        orders = _schedule_orders(inputs, starts, result.total_mw - baseline)
    else:
        # the curve trades the change from the baseline, like the schedule strategy
        coupled, requests = curve_bids(
            [unit], q, m, p, inputs.day, inputs.decision_id, baseline_mw=baseline
        )
        report["curve_expected_revenue"] = round(coupled.expected_revenue, 4)
        report["curve_expected_recourse_mwh"] = round(coupled.expected_recourse_mwh, 4)
        report["curve_solve_s"] = round(coupled.solve_s, 4)
        orders = [
            SubmitOrder(
                client_order_id=o.client_order_id,
                vpp_id=inputs.vpp_id,
                market=o.market,
                product=o.product,
                delivery_start=o.delivery_start,
                side=o.side.value,
                price=o.price,
                quantity=o.quantity_mw,
                connection_id=inputs.connection_id,
                decision_id=inputs.decision_id,
            )
            for o in requests
        ]
    return BidDecision(
        inputs.decision_id,
        orders,
        result.total_mw,
        baseline,
        float(result.expected_revenue),
        report,
    )


def curve_bids(
    units: Sequence[Unit],
    quantiles: FloatArray,
    market: Market,
    product: Product,
    day: date,
    decision_id: str,
    *,
    baseline_mw: FloatArray | None = None,
    recourse_spread: float = RECOURSE_SPREAD,
) -> tuple[CoupledCurves, list[OrderRequest]]:
    """The ``curve`` strategy for ``units`` (the live loop's VPP envelope, the simulation's
    batteries): :data:`CURVE_SCENARIOS` price paths drawn around the p10/p50/p90 forecasts
    ``quantiles (T, 3)`` [currency/MWh] (consecutive hours correlated by
    :data:`CURVE_HOURLY_CORRELATION`) give the monotone price-quantity curves that do best over
    all of them at once, each scenario's awards dispatched through the units' whole model and
    what they cannot deliver corrected intraday at ``recourse_spread`` [currency/MWh]
    (:func:`~openvpp.optimization.coupled.coupled_curves`); bid as limit orders on the
    market's ticks and lots of the local ``day`` (client order ids from ``decision_id``).
    With ``baseline_mw (T,)`` [MW] the curves trade the change from it."""
    dt_h = product.period_min / 60
    q = np.asarray(quantiles, dtype=np.float64)
    scenarios = path_scenarios(
        q.T,
        (0.1, 0.5, 0.9),
        n=CURVE_SCENARIOS,
        correlation=CURVE_HOURLY_CORRELATION**dt_h,
    )
    result = coupled_curves(
        units,
        scenarios,
        dt_h,
        recourse_spread=recourse_spread,
        market=market,
        baseline_mw=baseline_mw,
        max_levels=CURVE_LEVELS,
    )
    return result, limit_orders(result.curves, market, product.code, day, decision_id)


def _schedule_orders(
    inputs: BidInputs, starts: Sequence[datetime], trade_mw: FloatArray
) -> list[SubmitOrder]:
    m = inputs.market
    n_lots = round_to_lots(trade_mw, m.volume_tick_mw, ties="away")
    out = []
    for start, n in zip(starts, n_lots, strict=True):
        if abs(int(n)) * m.volume_tick_mw < m.min_order_volume_mw or n == 0:
            continue
        sell = n > 0
        side = "sell" if sell else "buy"
        out.append(
            SubmitOrder(
                client_order_id=client_order_id(
                    inputs.decision_id, m.code, inputs.product.code, start, OrderSide(side), 0
                ),
                vpp_id=inputs.vpp_id,
                market=m.code,
                product=inputs.product.code,
                delivery_start=start,
                side=side,
                price=Decimal(str(m.price_limits.min if sell else m.price_limits.max)),
                quantity=abs(int(n)) * m.volume_tick_mw,
                connection_id=inputs.connection_id,
                decision_id=inputs.decision_id,
            )
        )
    return out


# --------------------------------------------------------------------------- scheduling


@dataclass(frozen=True, slots=True)
class Due:
    """A decision to make now: (VPP, market, product, local delivery day) and its gate [UTC]."""

    vpp_id: str
    market: str
    product: str
    day: date
    gate_closure: datetime


def _first_gate(product: Product, day: date) -> datetime:
    return gate_closure(product, delivery_intervals(product, day)[0].start_utc)


def due_decisions(
    configs: Iterable[tuple[str, Market, Product]],
    now: datetime,
    decided: set[tuple[str, str, str, date]],
    *,
    lead: timedelta = timedelta(hours=6),
    margin: timedelta = timedelta(minutes=15),
) -> list[Due]:
    """The decisions due at ``now`` for the auto-trading ``configs`` (VPP id, market, product)
    that are not in ``decided``: every local day whose first gate closure lies in
    ``(now + margin, now + lead]``."""
    out: list[Due] = []
    for vpp_id, market, product in configs:
        today = now.astimezone(_zone(product)).date()
        for offset in range(0, 3):  # auctions close at most a couple of days ahead
            day = today + timedelta(days=offset)
            gate = _first_gate(product, day)
            if not now + margin < gate <= now + lead:
                continue
            if (vpp_id, market.code, product.code, day) in decided:
                continue
            out.append(Due(vpp_id, market.code, product.code, day, gate))
    return out


def _zone(product: Product) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(product.time_zone)
