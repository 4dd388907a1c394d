"""Schemas of trading: orders, executions (fills), sessions, limits and the kill switch.

Prices [currency/MWh] and volumes [MW] are exact decimals: sent as JSON strings (or numbers)
and returned as strings."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from openvpp.api.schemas.common import In, Out, UTCDatetime
from openvpp.trading.orders import Order
from openvpp.trading.records import FillRecord, StateRecord, SubmitOrder, exact
from openvpp.trading.risk import Limits

CODE = r"^[A-Z0-9][A-Z0-9_-]{0,31}$"
CLIENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
ID = Annotated[str, Field(min_length=1, max_length=36)]
Price = Annotated[Decimal, Field(max_digits=20, decimal_places=8, allow_inf_nan=False)]
Volume = Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=8, allow_inf_nan=False)]
Limit = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=8, allow_inf_nan=False)]
MAX_BATCH = 500


class OrderIn(In):
    client_order_id: str = Field(
        pattern=CLIENT_ID, description="your idempotency key, unique in the organization"
    )
    vpp_id: ID
    connection_id: ID | None = Field(
        default=None, description="default: the organization's connection serving the market"
    )
    market: str = Field(pattern=CODE)
    product: str = Field(pattern=CODE)
    delivery_start: UTCDatetime = Field(description="start of the delivery interval")
    side: Literal["buy", "sell"]
    price: Price = Field(description="[currency/MWh]")
    quantity_mw: Volume = Field(description="[MW]")
    order_type: Literal["limit", "ioc", "fok", "iceberg"] = "limit"
    decision_id: ID | None = Field(default=None, description="the bid decision it executes")

    def command(self) -> SubmitOrder:
        return SubmitOrder(
            client_order_id=self.client_order_id,
            vpp_id=self.vpp_id,
            market=self.market,
            product=self.product,
            delivery_start=self.delivery_start,
            side=self.side,
            price=self.price,
            quantity=self.quantity_mw,
            order_type=self.order_type,
            connection_id=self.connection_id,
            decision_id=self.decision_id,
        )


class OrderUpdateIn(In):
    """Either ``{"action": "cancel"}`` or a new ``price`` and/or ``quantity_mw``."""

    action: Literal["cancel"] | None = None
    price: Price | None = None
    quantity_mw: Volume | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> OrderUpdateIn:
        changes = self.price is not None or self.quantity_mw is not None
        if self.action == "cancel" and changes:
            raise ValueError("action cancel takes no price or quantity_mw")
        if self.action is None and not changes:
            raise ValueError("give action cancel, or price and/or quantity_mw")
        return self


class OrderOut(Out):
    id: str
    client_order_id: str
    vpp_id: str
    connection_id: str
    market: str
    product: str
    delivery_start: datetime
    gate_closure: datetime
    side: str
    order_type: str
    price: Decimal = Field(description="[currency/MWh]")
    quantity_mw: Decimal = Field(description="[MW]")
    filled_mw: Decimal = Field(description="[MW], the sum of the fills")
    avg_price: Decimal | None = Field(description="volume-weighted fill price [currency/MWh]")
    state: str
    venue_order_id: str | None
    reject_reason: str | None
    risk_rule: str | None = Field(description="the refusing risk check, if any")
    cancel_requested: bool
    version: int
    decision_id: str | None
    created_at: datetime
    updated_at: datetime
    events: list[dict[str, Any]] | None = Field(
        default=None, description="the order's event log (single-order reads)"
    )

    @classmethod
    def of(cls, o: Order, events: list[dict[str, Any]] | None = None) -> OrderOut:
        avg = o.avg_price
        return cls(
            id=o.id,
            client_order_id=o.client_order_id,
            vpp_id=o.vpp_id,
            connection_id=o.connection_id,
            market=o.market,
            product=o.product,
            delivery_start=o.delivery_start,
            gate_closure=o.gate_closure,
            side=o.side,
            order_type=o.order_type,
            price=o.price,
            quantity_mw=o.quantity,
            filled_mw=o.filled,
            avg_price=None if avg is None else exact(avg.quantize(Decimal("0.00000001"))),
            state=o.state.value,
            venue_order_id=o.venue_order_id,
            reject_reason=o.reject_reason,
            risk_rule=o.risk_rule,
            cancel_requested=o.cancel_requested,
            version=o.version,
            decision_id=o.decision_id,
            created_at=o.created_at,
            updated_at=o.updated_at,
            events=events,
        )


class ExecuteIn(In):
    orders: list[OrderIn] = Field(min_length=1, max_length=MAX_BATCH)


class ItemError(Out):
    code: str
    message: str
    field: str | None = None


class ExecuteItemOut(Out):
    client_order_id: str
    status: int = Field(description="201 created, 200 idempotent replay, else the error's")
    order: OrderOut | None = None
    error: ItemError | None = None


class ExecuteOut(Out):
    items: list[ExecuteItemOut]
    created: int
    replayed: int
    failed: int


class FillOut(Out):
    id: str
    trade_id: str
    order_id: str | None
    vpp_id: str | None
    connection_id: str
    venue_order_id: str
    client_order_id: str
    market: str
    product: str
    delivery_start: datetime
    side: str
    price: Decimal
    quantity_mw: Decimal
    executed_at: datetime
    received_at: datetime

    @classmethod
    def of(cls, f: FillRecord) -> FillOut:
        return cls(
            id=f.id,
            trade_id=f.trade_id,
            order_id=f.order_id,
            vpp_id=f.vpp_id,
            connection_id=f.connection_id,
            venue_order_id=f.venue_order_id,
            client_order_id=f.client_order_id,
            market=f.market,
            product=f.product,
            delivery_start=f.delivery_start,
            side=f.side,
            price=f.price,
            quantity_mw=f.quantity,
            executed_at=f.executed_at,
            received_at=f.received_at,
        )


class SessionOut(Out):
    market: str
    product: str
    delivery_start: datetime
    delivery_end: datetime
    gate_opening: datetime | None
    gate_closure: datetime
    state: Literal["upcoming", "open", "closed", "cleared"]
    orders: int = Field(description="the organization's orders for this interval")
    open_orders: int


class SessionsOut(Out):
    market: str
    product: str
    day: date
    time_zone: str
    sessions: list[SessionOut]


class LimitsIn(In):
    vpp_id: ID
    market: str = Field(pattern=CODE)
    max_position_mw: Limit | None = None
    max_order_mw: Limit | None = None
    max_notional: Limit | None = None
    reference_price: Price | None = None
    price_band: Limit | None = None
    max_orders_per_second: int | None = Field(default=None, ge=0, le=1_000_000)
    max_orders_per_minute: int | None = Field(default=None, ge=0, le=60_000_000)

    def limits(self) -> Limits:
        return Limits(
            max_position_mw=self.max_position_mw,
            max_order_mw=self.max_order_mw,
            max_notional=self.max_notional,
            reference_price=self.reference_price,
            price_band=self.price_band,
            max_orders_per_second=self.max_orders_per_second,
            max_orders_per_minute=self.max_orders_per_minute,
        )


class LimitsOut(Out):
    vpp_id: str | None
    market: str | None
    max_position_mw: Decimal | None
    max_order_mw: Decimal | None
    max_notional: Decimal | None
    reference_price: Decimal | None
    price_band: Decimal | None
    max_orders_per_second: int | None
    max_orders_per_minute: int | None
    updated_at: datetime | None = None
    updated_by: str | None = None

    @classmethod
    def of(
        cls,
        limits: Limits,
        vpp_id: str | None = None,
        market: str | None = None,
        updated_at: datetime | None = None,
        updated_by: str | None = None,
    ) -> LimitsOut:
        return cls(
            vpp_id=vpp_id,
            market=market,
            updated_at=updated_at,
            updated_by=updated_by,
            **limits.as_dict(),
        )


class LimitsListOut(Out):
    defaults: LimitsOut = Field(description="applied to a VPP and market without limits")
    limits: list[LimitsOut]


class StateIn(In):
    vpp_id: ID | None = Field(default=None, description="null: the whole organization")
    mode: Literal["active", "reducing", "halted"]
    reason: str | None = Field(default=None, max_length=500)


class StateOut(Out):
    scope: str = Field(description="a VPP id, or * for the organization")
    vpp_id: str | None
    mode: str
    reason: str | None
    changed_by: str | None
    changed_at: datetime

    @classmethod
    def of(cls, s: StateRecord) -> StateOut:
        return cls(
            scope=s.scope,
            vpp_id=None if s.scope == "*" else s.scope,
            mode=s.mode.value,
            reason=s.reason,
            changed_by=s.changed_by,
            changed_at=s.changed_at,
        )


class ModeChangeOut(Out):
    state: StateOut
    cancelled: int = Field(description="open orders cancelled at the venue (HALTED)")
    cancel_pending: int = Field(description="open orders flagged, not confirmed cancelled yet")
