"""Automatic bidding as a service: auto-trading settings, and the decision of one (VPP,
market, product, local delivery day) made now — recorded first, then forecast, optimized,
submitted through the order manager and recorded with everything that explains it.

``decide_now``, in order:

1. Validation (422/404 naming the field, nothing stored): the market and product exist and
   are an auction, the gate of the day's first interval is still open, the VPP is the
   caller's.
2. The decision row is inserted as ``pending`` and committed (one audit row). The unique key
   (organization, VPP, market, product, day) makes a second decision of the same day fail the
   insert; the stored decision is returned instead (never check-then-insert) — unless it is
   still ``pending`` after :data:`STALE_PENDING` (its maker stopped half-way): then this call
   claims it (a compare-and-set on its ``updated_at``, so one caller wins) and makes it again
   under the same id, audited ``trading.autobid.resume``.
3. The VPP's flexibility on the day's intervals, the price forecast (the configured registry
   price model's prediction issued now; else seasonal naive from stored prices,
   :mod:`openvpp.trading.autobid_forecast`; neither: ``failed``), the optimal schedule and its
   orders (:func:`openvpp.trading.autobid.decide`), submitted together through the group
   commit of order submissions (:meth:`openvpp.trading.batching.SubmitBatcher.submit_many`:
   each order idempotent by its client order id, pre-trade risk and the kill switch apply).
4. Inputs, result, each order's outcome and the status (``submitted``: every order accepted;
   ``partial``; ``rejected``: none; ``failed``: no decision could be made, ``error`` says why)
   are written in a last unit of work (one audit row). An error in step 3 is recorded on the
   decision, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock
from openvpp.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from openvpp.core.ids import new_id
from openvpp.forecasting.protocol import ModelKind
from openvpp.forecasting.registry.predictions import PredictionService
from openvpp.forecasting.registry.records import ModelStatus
from openvpp.identity.model import Principal, Role
from openvpp.markets.calendar import delivery_intervals, gate_closure
from openvpp.markets.data_service import MarketDataService
from openvpp.markets.model import Market, Product, VenueKind
from openvpp.ports import UnitOfWork
from openvpp.trading.autobid import BidDecision, BidInputs, decide, due_decisions
from openvpp.trading.autobid_records import (
    AutoTradingSetting,
    DecisionFilter,
    DecisionRecord,
    DuplicateDecision,
)
from openvpp.trading.autobid_sources import PriceSources
from openvpp.trading.records import SubmitOrder
from openvpp.trading.service import Placement, market_product
from openvpp.vpp.model import Vpp
from openvpp.vpp.service import aggregate

__all__ = [
    "AUTOBID_ACTOR",
    "AutobidService",
    "Decided",
    "SettingSpec",
    "system_principal",
]

log = logging.getLogger(__name__)
SubmitMany = Callable[[UnitOfWork, Principal, list[SubmitOrder]], list[Placement | DomainError]]
"""Submits orders together, each with its placement or the error that refused it, in order
(the composition root passes :meth:`openvpp.trading.batching.SubmitBatcher.submit_many`)."""
UowFactory = Callable[[], UnitOfWork]
AUTOBID_ACTOR = "autobid"
STRATEGIES = ("schedule", "curve")
MAX_LEAD_MIN = 2880  # due_decisions looks two days ahead


STALE_PENDING = timedelta(minutes=10)
"""A decision takes seconds; one still ``pending`` after this long was abandoned by a process
that stopped half-way. Before its gate it is made again (``decide_now`` and the scheduler take
it over, once); after its gate it is marked ``failed``."""
ABANDONED = "abandoned: the process making the decision stopped before it was recorded"


def system_principal(organization_id: str) -> Principal:
    """The scheduler acting in an organization (orders' ``created_by`` is ``autobid``)."""
    return Principal(
        kind="user",
        id=AUTOBID_ACTOR,
        organization_id=organization_id,
        roles=frozenset({Role.TRADER}),
        user_id=AUTOBID_ACTOR,
    )


@dataclass(frozen=True, slots=True)
class SettingSpec:
    vpp_id: str
    market: str
    product: str
    enabled: bool
    strategy: str = "schedule"
    connection_id: str | None = None
    price_model_id: str | None = None
    lead_min: int = 360
    margin_min: int = 15


@dataclass(frozen=True, slots=True)
class Decided:
    """The decision and whether this call made it (False: the day was decided already)."""

    record: DecisionRecord
    created: bool


def _auction(market_code: str, product_code: str) -> tuple[Market, Product]:
    market, product = market_product(market_code, product_code)
    if market.venue is not VenueKind.AUCTION:
        raise ValidationFailed(
            f"market {market_code} is {market.venue.value}, not an auction", field="market"
        )
    return market, product


def _find_vpp(uow: UnitOfWork, organization_id: str, vpp_id: str) -> Vpp:
    vpp = uow.vpps.get(organization_id, vpp_id)
    if vpp is None:
        raise NotFound(f"VPP {vpp_id!r} not found", field="vpp_id")
    return vpp


def _rounded(values: Any, digits: int = 4) -> list[float | None]:
    """Rounded for the record; an unbounded value (infinite) as None (JSON has no infinity)."""
    return [
        round(float(x), digits) if np.isfinite(x) else None
        for x in np.atleast_1d(np.asarray(values, dtype=np.float64))
    ]


class AutobidService:
    def __init__(
        self,
        clock: Clock,
        submit: SubmitMany,
        predictions: PredictionService,
        market_data: MarketDataService,
    ) -> None:
        self._clock = clock
        self._submit = submit
        self._sources = PriceSources(predictions, market_data)

    # --- settings ---------------------------------------------------------------------------
    def settings(self, uow: UnitOfWork, principal: Principal) -> list[AutoTradingSetting]:
        with uow:
            return uow.auto_trading.of_org(principal.organization_id)

    def set_settings(
        self, uow: UnitOfWork, principal: Principal, spec: SettingSpec
    ) -> AutoTradingSetting:
        """Create or replace the setting of (VPP, market, product), checked and audited."""
        org = principal.organization_id
        _auction(spec.market, spec.product)
        if spec.strategy not in STRATEGIES:
            raise ValidationFailed(
                f"strategy must be one of {list(STRATEGIES)}, got {spec.strategy!r}",
                field="strategy",
            )
        if not 0 < spec.lead_min <= MAX_LEAD_MIN:
            raise ValidationFailed(
                f"lead_min must be 1 ... {MAX_LEAD_MIN} [min], got {spec.lead_min}",
                field="lead_min",
            )
        if not 0 <= spec.margin_min < spec.lead_min:
            raise ValidationFailed(
                f"margin_min must be 0 ... lead_min - 1 [min], got {spec.margin_min}",
                field="margin_min",
            )
        with uow:
            _find_vpp(uow, org, spec.vpp_id)
            if spec.connection_id is not None:
                connection = uow.market_connections.get(org, spec.connection_id)
                if connection is None:
                    raise NotFound(f"no connection {spec.connection_id!r}", field="connection_id")
                if spec.market not in connection.markets:
                    raise ValidationFailed(
                        f"connection {connection.name!r} does not serve {spec.market}",
                        field="connection_id",
                    )
            if spec.price_model_id is not None:
                model = uow.ai_models.get(org, spec.price_model_id)
                if model is None or model.status is not ModelStatus.ACTIVE:
                    raise NotFound(f"no model {spec.price_model_id!r}", field="price_model_id")
                if model.kind is not ModelKind.PRICE:
                    raise ValidationFailed(
                        f"model {model.name!r} forecasts {model.kind.value}, not price",
                        field="price_model_id",
                    )
            before = uow.auto_trading.get(org, spec.vpp_id, spec.market, spec.product)
            setting = AutoTradingSetting(
                organization_id=org,
                vpp_id=spec.vpp_id,
                market=spec.market,
                product=spec.product,
                enabled=spec.enabled,
                strategy=spec.strategy,
                connection_id=spec.connection_id,
                price_model_id=spec.price_model_id,
                lead_min=spec.lead_min,
                margin_min=spec.margin_min,
                updated_at=self._clock.now(),
                updated_by=principal.id,
            )
            uow.auto_trading.upsert(setting)
            uow.record(
                AuditEvent(
                    action="trading.autobid.settings",
                    object_type="auto_trading",
                    object_id=f"{spec.vpp_id}/{spec.market}/{spec.product}",
                    before=None if before is None else before.view(),
                    after=setting.view(),
                )
            )
            uow.commit()
        return setting

    # --- decisions --------------------------------------------------------------------------
    def decision(self, uow: UnitOfWork, principal: Principal, decision_id: str) -> DecisionRecord:
        with uow:
            found = uow.bid_decisions.get(principal.organization_id, decision_id)
        if found is None:
            raise NotFound(f"no decision {decision_id!r}", field="decision_id")
        return found

    def decisions(
        self, uow: UnitOfWork, principal: Principal, f: DecisionFilter, limit: int, offset: int
    ) -> list[DecisionRecord]:
        with uow:
            return uow.bid_decisions.page(principal.organization_id, f, limit, offset)

    def decide_now(
        self,
        uows: UowFactory,
        principal: Principal,
        vpp_id: str,
        market_code: str,
        product_code: str,
        day: date,
        now: datetime | None = None,
    ) -> Decided:
        """Make, submit and record the decision of ``day`` (module docstring)."""
        now = now or self._clock.now()
        org = principal.organization_id
        market, product = _auction(market_code, product_code)
        intervals = delivery_intervals(product, day)
        gate = gate_closure(product, intervals[0].start_utc)
        if now >= gate:
            raise ValidationFailed(
                f"the gate of {market_code}/{product_code} for {day} closed at {gate.isoformat()}",
                field="day",
            )
        with uows() as uow:
            vpp = _find_vpp(uow, org, vpp_id)
            setting = uow.auto_trading.get(org, vpp_id, market_code, product_code)
            record = DecisionRecord(
                id=new_id(),
                organization_id=org,
                vpp_id=vpp_id,
                market=market_code,
                product=product_code,
                delivery_day=day,
                gate_closure=gate,
                status="pending",
                strategy=setting.strategy if setting else "schedule",
                inputs={},
                result={},
                orders={},
                error=None,
                created_at=now,
                updated_at=now,
            )
            action = "trading.autobid.decide"
            try:
                uow.bid_decisions.insert(record)
            except DuplicateDecision:
                existing = uow.bid_decisions.of_day(org, vpp_id, market_code, product_code, day)
                if existing is None:  # the other writer rolled back
                    raise Conflict(
                        "the decision conflicts with one made meanwhile; retry"
                    ) from None
                if not uow.bid_decisions.claim_stale(org, existing.id, now - STALE_PENDING, now):
                    return Decided(existing, False)
                # its maker stopped half-way: made again under the same id (the same client
                # order ids, so orders it had placed are replayed, not doubled)
                record, action = replace(existing, updated_at=now), "trading.autobid.resume"
            uow.record(
                AuditEvent(
                    action=action,
                    object_type="bid_decision",
                    object_id=record.id,
                    after={
                        "vpp_id": vpp_id,
                        "market": market_code,
                        "product": product_code,
                        "delivery_day": day.isoformat(),
                        "strategy": record.strategy,
                        "status": "pending",
                    },
                )
            )
            uow.commit()
        inputs: dict[str, Any] = {"decided_at": now.isoformat(), "intervals": len(intervals)}
        try:
            record = self._make(uows, principal, vpp, setting, market, product, record, inputs)
        except Exception as exc:
            if isinstance(exc, DomainError):
                message = exc.message
            else:
                log.exception("automatic bidding decision %s failed", record.id)
                message = f"internal error: {type(exc).__name__}: {exc}"
            record = replace(record, status="failed", inputs=inputs, error=message)
        record = replace(record, updated_at=self._clock.now())
        self._store(uows(), record)
        return Decided(record, True)

    def _make(
        self,
        uows: UowFactory,
        principal: Principal,
        vpp: Vpp,
        setting: AutoTradingSetting | None,
        market: Market,
        product: Product,
        record: DecisionRecord,
        inputs: dict[str, Any],
    ) -> DecisionRecord:
        intervals = delivery_intervals(product, record.delivery_day)
        index = pd.DatetimeIndex([iv.start_utc for iv in intervals]).tz_convert(UTC)
        now = record.created_at
        agg = aggregate(uows(), principal, vpp.id, index, tz=product.time_zone, now=now)
        flex = agg.total
        inputs["flexibility"] = {
            "baseline_mw": _rounded(flex.baseline_mw),
            "p_min_mw": _rounded(flex.p_min_mw),
            "p_max_mw": _rounded(flex.p_max_mw),
            "e_min_mwh_end": _rounded(flex.e_min_mwh[-1])[0],
            "e_max_mwh_end": _rounded(flex.e_max_mwh[-1])[0],
            # the whole envelope: what the perfect-foresight comparison re-optimises
            "e_min_mwh": _rounded(flex.e_min_mwh),
            "e_max_mwh": _rounded(flex.e_max_mwh),
            "ramp_up_mw": _rounded(flex.ramp_up_mw),
            "ramp_down_mw": _rounded(flex.ramp_down_mw),
            "resources": agg.resources,
            "notes": agg.notes,
        }
        quantiles, source = self._sources.forecast(
            uows, principal, vpp, setting, market, product, intervals, now
        )
        inputs["forecast"] = {
            **source,
            "p10": _rounded(quantiles[:, 0], 2),
            "p50": _rounded(quantiles[:, 1], 2),
            "p90": _rounded(quantiles[:, 2], 2),
        }
        decision = decide(
            BidInputs(
                decision_id=record.id,
                vpp_id=vpp.id,
                market=market,
                product=product,
                day=record.delivery_day,
                flex=flex,
                quantiles=quantiles,
                forecast=source,
                strategy="curve" if record.strategy == "curve" else "schedule",
                connection_id=setting.connection_id if setting else None,
            )
        )
        placed = self._submit(uows(), principal, decision.orders)
        orders, accepted = _outcomes(decision, placed)
        if not decision.orders or accepted == len(decision.orders):
            status = "submitted"
        else:
            status = "partial" if accepted else "rejected"
        return replace(
            record, status=status, inputs=inputs, result=decision.summary(), orders=orders
        )

    def _store(self, uow: UnitOfWork, record: DecisionRecord) -> None:
        with uow:
            uow.bid_decisions.update(record)
            uow.record(
                AuditEvent(
                    action="trading.autobid.result",
                    object_type="bid_decision",
                    object_id=record.id,
                    after={
                        "status": record.status,
                        "orders": len(record.orders),
                        "expected_revenue": record.result.get("expected_revenue"),
                        "forecast": record.inputs.get("forecast", {}).get("source"),
                        "error": record.error,
                    },
                    outcome="error" if record.status == "failed" else "success",
                )
            )
            uow.commit()

    # --- the scheduler ----------------------------------------------------------------------
    def run_due(
        self, uows_for: Callable[[str | None], UnitOfWork], now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Make every decision due now for the enabled settings of every organization (each
        between its first gate closure minus ``lead_min`` and minus ``margin_min``, never a
        day decided already). An error is logged and reported, never raised."""
        now = now or self._clock.now()
        stale_before = now - STALE_PENDING
        with uows_for(None) as uow:
            abandoned = uow.bid_decisions.fail_abandoned(stale_before, now, ABANDONED)
            enabled = uow.auto_trading.enabled()
            decided = uow.bid_decisions.decided_since(
                (now - timedelta(days=2)).date(), stale_before=stale_before
            )
            if abandoned:
                uow.record(
                    AuditEvent(
                        action="trading.autobid.abandoned",
                        object_type="bid_decision",
                        after={"decisions": abandoned, "error": ABANDONED},
                        outcome="error",
                    )
                )
                uow.commit()
                log.warning("automatic bidding: %d abandoned decisions failed", len(abandoned))
        out: list[dict[str, Any]] = []
        for s in enabled:
            try:
                market, product = _auction(s.market, s.product)
            except DomainError as exc:
                log.warning("auto-trading %s/%s: %s", s.market, s.product, exc.message)
                continue
            done = {(v, m, p, d) for o, v, m, p, d in decided if o == s.organization_id}
            due = due_decisions(
                [(s.vpp_id, market, product)],
                now,
                done,
                lead=timedelta(minutes=s.lead_min),
                margin=timedelta(minutes=s.margin_min),
            )
            for d in due:
                item: dict[str, Any] = {
                    "organization_id": s.organization_id,
                    "vpp_id": d.vpp_id,
                    "market": d.market,
                    "product": d.product,
                    "day": d.day.isoformat(),
                }
                try:
                    made = self.decide_now(
                        partial(uows_for, s.organization_id),
                        system_principal(s.organization_id),
                        d.vpp_id, d.market, d.product, d.day, now,
                    )  # fmt: skip
                    item.update(decision_id=made.record.id, status=made.record.status)
                except DomainError as exc:  # e.g. the VPP was deleted: nothing to record
                    log.warning("automatic bidding of %s refused: %s", item, exc.message)
                    item["error"] = exc.message
                except Exception as exc:  # one decision's failure must not stop the others
                    log.exception("automatic bidding of %s failed", item)
                    item["error"] = str(exc)
                out.append(item)
        return out


def _outcomes(
    decision: BidDecision, placed: list[Placement | DomainError]
) -> tuple[dict[str, Any], int]:
    """Per client order id: the order (id, state, side, price, volume) or the error; and
    the number accepted (not rejected)."""
    out: dict[str, Any] = {}
    accepted = 0
    for cmd, result in zip(decision.orders, placed, strict=True):
        item: dict[str, Any] = {
            "delivery_start": cmd.delivery_start.isoformat(),
            "side": cmd.side,
            "price": str(cmd.price),
            "quantity_mw": str(cmd.quantity),
        }
        if isinstance(result, DomainError):
            item["error"] = {"code": result.code, "message": result.message, "field": result.field}
        else:
            order = result.order
            item.update(order_id=order.id, state=order.state.value)
            if order.reject_reason:
                item["reject_reason"] = order.reject_reason
            if order.state.value != "rejected":
                accepted += 1
        out[cmd.client_order_id] = item
    return out, accepted
