"""Trading (``/api/vpp/trading``): sessions, orders (idempotent by client order id, stored
before they are sent), batch execution, executions (fills), risk limits and the kill switch."""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Response

from openvpp.api.deps import PageDep, PrincipalDep, ReadUow, RuntimeDep, WriteUow, blocking, read
from openvpp.api.errors import status_for
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.common import IsoDay, UTCDatetime
from openvpp.api.schemas.trading import (
    CODE,
    ExecuteIn,
    ExecuteItemOut,
    ExecuteOut,
    FillOut,
    ItemError,
    LimitsIn,
    LimitsListOut,
    LimitsOut,
    ModeChangeOut,
    OrderIn,
    OrderOut,
    OrderUpdateIn,
    SessionOut,
    SessionsOut,
    StateIn,
    StateOut,
)
from openvpp.core.errors import DomainError
from openvpp.identity.model import Principal
from openvpp.ports import UnitOfWork
from openvpp.trading.records import OrderFilter
from openvpp.trading.risk import DEFAULT_LIMITS, TradingMode
from openvpp.trading.service import market_product
from openvpp.trading.sessions import sessions_of_day

router = APIRouter(prefix=f"{API_PREFIX}/trading", tags=["trading"])
StateName = Literal[
    "created",
    "risk_checked",
    "sent",
    "acknowledged",
    "partially_filled",
    "filled",
    "cancelled",
    "rejected",
    "expired",
    "unknown",
]


@router.get("/sessions", summary="Trading sessions of a market's local delivery day")
async def sessions(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    market: Annotated[str, Query(pattern=CODE)],
    product: Annotated[str, Query(pattern=CODE)],
    day: IsoDay | None = None,
) -> SessionsOut:
    m, _ = market_product(market, product)
    now = rt.clock.now()
    local_day = day or now.astimezone(ZoneInfo(m.time_zone)).date()
    zone, found = await read(
        rt, sessions_of_day, uow, principal.organization_id, market, product, local_day, now
    )
    return SessionsOut(
        market=market,
        product=product,
        day=local_day,
        time_zone=zone,
        sessions=[
            SessionOut(
                market=market,
                product=product,
                delivery_start=s.delivery_start,
                delivery_end=s.delivery_end,
                gate_opening=s.gate_opening,
                gate_closure=s.gate_closure,
                state=s.state,
                orders=s.orders,
                open_orders=s.open_orders,
            )
            for s in found
        ],
    )


@router.post(
    "/orders",
    status_code=201,
    summary="Place an order (idempotent by client_order_id)",
    description="The order is risk-checked and stored before it is sent. 201: created (also "
    "when risk refused it: `state` rejected, `risk_rule` and `reject_reason` say why); 200: "
    "the same `client_order_id` with the same body again (the stored order); 409: the same "
    "`client_order_id` with another body. `state` unknown: the venue's answer was lost; the "
    "order is reconciled by querying the venue, never resent blind.",
)
async def place_order(
    body: OrderIn, response: Response, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> OrderOut:
    placed = await rt.trading.submissions.submit_async(uow, principal, body.command())
    if not placed.created:
        response.status_code = 200
    return OrderOut.of(placed.order)


@router.get("/orders", summary="Orders of the organization, newest first")
async def list_orders(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    page: PageDep,
    vpp_id: str | None = None,
    market: Annotated[str | None, Query(pattern=CODE)] = None,
    product: Annotated[str | None, Query(pattern=CODE)] = None,
    side: Literal["buy", "sell"] | None = None,
    connection_id: str | None = None,
    state: Annotated[list[StateName] | None, Query()] = None,
    delivery_from: UTCDatetime | None = None,
    delivery_to: UTCDatetime | None = None,
) -> list[OrderOut]:
    f = OrderFilter(
        vpp_id=vpp_id,
        market=market,
        product=product,
        side=side,
        connection_id=connection_id,
        states=frozenset(state or ()),
        delivery_from=delivery_from,
        delivery_to=delivery_to,
    )

    def query(u: UnitOfWork, p: Principal) -> list[OrderOut]:
        with u:
            found = u.trading_orders.page(p.organization_id, f, page.limit, page.offset)
        return [OrderOut.of(o) for o in found]

    return await read(rt, query, uow, principal)


@router.get("/orders/{order_id}", summary="One order with its event log")
async def get_order(
    order_id: str, rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep
) -> OrderOut:
    def query(u: UnitOfWork, p: Principal) -> OrderOut:
        order = rt.trading.orders.get(u, p, order_id)
        with u:
            events = u.trading_orders.events(order.id)
        return OrderOut.of(order, events)

    return await read(rt, query, uow, principal)


@router.put(
    "/orders/{order_id}",
    summary="Modify price/volume of a working order, or cancel it",
    description='`{"action": "cancel"}` cancels at the venue (an order not yet known there '
    "is flagged `cancel_requested` and cancelled as soon as it is); `price` and/or "
    "`quantity_mw` change a working order after the same risk checks as a new one.",
)
async def update_order(
    order_id: str, body: OrderUpdateIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> OrderOut:
    if body.action == "cancel":
        done = await blocking(rt.trading.orders.cancel, uow, principal, order_id)
    else:
        done = await blocking(
            rt.trading.orders.modify,
            uow,
            principal,
            order_id,
            price=body.price,
            quantity=body.quantity_mw,
        )
    return OrderOut.of(done)


@router.post(
    "/execute",
    summary="Place a batch of orders (e.g. a bid plan), each idempotent by its client order id",
    description="Each item is placed on its own; the answer lists per item the status it "
    "would have had alone (201, 200, 404, 409, 422) with the order or the error.",
)
async def execute(
    body: ExecuteIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> ExecuteOut:
    cmds = [o.command() for o in body.orders]
    results = await blocking(rt.trading.submissions.submit_many, uow, principal, cmds)
    items = []
    for cmd, result in zip(cmds, results, strict=True):
        if isinstance(result, DomainError):
            items.append(
                ExecuteItemOut(
                    client_order_id=cmd.client_order_id,
                    status=status_for(result),
                    error=ItemError(code=result.code, message=result.message, field=result.field),
                )
            )
        else:
            items.append(
                ExecuteItemOut(
                    client_order_id=cmd.client_order_id,
                    status=201 if result.created else 200,
                    order=OrderOut.of(result.order),
                )
            )
    return ExecuteOut(
        items=items,
        created=sum(i.status == 201 for i in items),
        replayed=sum(i.status == 200 for i in items),
        failed=sum(i.status >= 400 for i in items),
    )


@router.get("/executions", summary="Fills (executions), newest first")
async def executions(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    page: PageDep,
    order_id: str | None = None,
    vpp_id: str | None = None,
) -> list[FillOut]:
    def query(u: UnitOfWork, p: Principal) -> list[FillOut]:
        with u:
            found = u.trading_fills.page(
                p.organization_id,
                order_id=order_id,
                vpp_id=vpp_id,
                limit=page.limit,
                offset=page.offset,
            )
        return [FillOut.of(f) for f in found]

    return await read(rt, query, uow, principal)


@router.get("/limits", summary="Risk limits per VPP and market, and the defaults")
async def get_limits(
    rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep, vpp_id: str | None = None
) -> LimitsListOut:
    rows = await read(rt, rt.trading.control.limits, uow, principal, vpp_id)
    return LimitsListOut(
        defaults=LimitsOut.of(DEFAULT_LIMITS),
        limits=[
            LimitsOut.of(r["limits"], r["vpp_id"], r["market"], r["updated_at"], r["updated_by"])
            for r in rows
        ],
    )


@router.put(
    "/limits",
    summary="Set the risk limits of a VPP on a market (null: no limit of that kind)",
)
async def put_limits(
    body: LimitsIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> LimitsOut:
    limits = await blocking(
        rt.trading.control.put_limits, uow, principal, body.vpp_id, body.market, body.limits()
    )
    return LimitsOut.of(limits, body.vpp_id, body.market, rt.clock.now(), principal.id)


@router.get("/state", summary="Trading modes: the organization's (scope *) and per VPP")
async def get_state(rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep) -> list[StateOut]:
    found = await read(rt, rt.trading.control.states, uow, principal)
    return [StateOut.of(s) for s in found]


@router.put(
    "/state",
    summary="Set the trading mode (kill switch) of a VPP or of the whole organization",
    description="`active`; `reducing`: only orders that reduce the position; `halted`: no "
    "new orders, and the open orders of the scope are cancelled at the venue.",
)
async def put_state(
    body: StateIn, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> ModeChangeOut:
    change = await blocking(
        rt.trading.control.set_mode,
        uow,
        principal,
        body.vpp_id,
        TradingMode(body.mode),
        body.reason,
    )
    return ModeChangeOut(
        state=StateOut.of(change.state),
        cancelled=change.cancelled,
        cancel_pending=change.cancel_pending,
    )
