"""Market rules and calendars (``/api/vpp/markets``): the presets as data, DST-correct delivery
grids with gate times, and the next gate closure of a product."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from openvpp.api.deps import PrincipalDep, RuntimeDep
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.common import UTCDatetime
from openvpp.api.schemas.markets import CalendarOut, GateOut, IntervalOut, MarketSummaryOut
from openvpp.core.errors import NotFound, ValidationFailed
from openvpp.markets.calendar import (
    delivery_intervals,
    gate_closure,
    gate_opening,
    is_open,
    next_gate_closure,
)
from openvpp.markets.model import Market, Product
from openvpp.markets.presets import load_presets

router = APIRouter(prefix=API_PREFIX, tags=["markets"])


def _market(code: str) -> Market:
    found = load_presets().get(code)
    if found is None:
        raise NotFound(f"no market {code!r}", field="code")
    return found


def _product(market: Market, code: str) -> Product:
    try:
        return market.product(code)
    except KeyError:
        known = [p.code for p in market.products]
        raise ValidationFailed(
            f"{market.code} has no product {code!r}; known: {known}", field="product"
        ) from None


@router.get("/markets", summary="Markets: the shipped presets")
async def list_markets(_p: PrincipalDep) -> list[MarketSummaryOut]:
    return [MarketSummaryOut.of(m) for m in load_presets().values()]


@router.get(
    "/markets/{code}",
    summary="One market's rules: products, gates, price limits, ticks, settlement, penalties",
)
async def get_market(code: str, _p: PrincipalDep) -> dict[str, Any]:
    return _market(code).model_dump(mode="json")


@router.get(
    "/markets/{code}/calendar",
    summary="Delivery intervals of a day with their gate opening and closure [UTC]",
)
async def calendar(
    code: str,
    product: Annotated[str, Query(max_length=32)],
    day: Annotated[date, Query(description="delivery day in the market's time zone")],
    _p: PrincipalDep,
) -> CalendarOut:
    market = _market(code)
    prod = _product(market, product)
    if not date(1990, 1, 1) <= day <= date(2100, 12, 31):
        raise ValidationFailed("day must be between 1990-01-01 and 2100-12-31", field="day")
    intervals = [
        IntervalOut.of(i, gate_opening(prod, i.start_utc), gate_closure(prod, i.start_utc))
        for i in delivery_intervals(prod, day)
    ]
    return CalendarOut(
        market=code, product=product, day=day, time_zone=market.time_zone, intervals=intervals
    )


@router.get("/markets/{code}/gate", summary="The next gate closure of a product after an instant")
async def next_gate(
    code: str,
    product: Annotated[str, Query(max_length=32)],
    rt: RuntimeDep,
    _p: PrincipalDep,
    at: Annotated[UTCDatetime | None, Query(description="default: now")] = None,
) -> GateOut:
    market = _market(code)
    prod = _product(market, product)
    now = at or rt.clock.now()
    if not 1990 <= now.year <= 2100:
        raise ValidationFailed("at must be between 1990 and 2100", field="at")
    closure, interval = next_gate_closure(prod, now)
    return GateOut(
        market=code,
        product=product,
        at=now,
        next_gate_closure=closure,
        first_interval_start=interval.start_utc,
        open_for_first_interval=is_open(prod, interval.start_utc, now),
    )
