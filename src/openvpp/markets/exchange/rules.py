"""Checks of the simulated exchange on incoming orders: tick grids, limits, delivery grid and
gate (pure functions; errors name the offending field)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from openvpp.core.errors import ValidationFailed
from openvpp.markets.calendar import (
    DeliveryInterval,
    as_utc,
    delivery_intervals,
    gate_closure,
    gate_opening,
)
from openvpp.markets.model import Market, Product

__all__ = [
    "GateClosed",
    "check_gate",
    "delivery_interval",
    "price_ticks",
    "to_units",
    "volume_lots",
]


class GateClosed(ValidationFailed):
    """The order arrives before the gate opens or after it closes."""

    code = "gate_closed"


def to_units(value: Decimal, unit: Decimal, field: str) -> int:
    """``value / unit`` as an integer; ``ValidationFailed`` naming ``field`` if ``value`` is not
    a finite multiple of ``unit``."""
    try:
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValidationFailed(f"{field} must be a finite decimal, got {value!r}", field=field)
        units = value / unit
    except InvalidOperation:
        raise ValidationFailed(f"{field} {value} is not a valid decimal", field=field) from None
    if units != units.to_integral_value():
        raise ValidationFailed(
            f"{field} {value} is not a multiple of the market's tick {unit}", field=field
        )
    return int(units)


def price_ticks(market: Market, price: Decimal, field: str = "price") -> int:
    """Price [currency/MWh] in ticks, inside the market's bid limits."""
    limits = market.price_limits
    ticks = to_units(price, market.price_tick, field)
    if not limits.min <= price <= limits.max:
        raise ValidationFailed(
            f"{field} {price} outside the limits of {market.code}: {limits.min} to {limits.max} "
            f"{market.currency}/MWh",
            field=field,
        )
    return ticks


def volume_lots(market: Market, quantity_mw: Decimal, field: str = "quantity_mw") -> int:
    """Volume [MW] in lots (volume ticks), at least the market's minimum order volume."""
    lots = to_units(quantity_mw, market.volume_tick_mw, field)
    if quantity_mw < market.min_order_volume_mw:
        raise ValidationFailed(
            f"{field} {quantity_mw} below the minimum order volume "
            f"{market.min_order_volume_mw} MW of {market.code}",
            field=field,
        )
    return lots


def delivery_interval(product: Product, start: datetime) -> tuple[date, int, DeliveryInterval]:
    """The local delivery day, the index in that day's grid and the interval starting at
    ``start`` [UTC]; ``ValidationFailed`` if ``start`` is naive or off the product's grid."""
    try:
        start_utc = as_utc(start, "delivery_start")
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="delivery_start") from None
    day = start_utc.astimezone(ZoneInfo(product.time_zone)).date()
    for index, interval in enumerate(delivery_intervals(product, day)):
        if interval.start_utc == start_utc:
            return day, index, interval
    raise ValidationFailed(
        f"delivery_start {start_utc.isoformat()} is not the start of a {product.period_min}-min "
        f"interval of product {product.code}",
        field="delivery_start",
    )


def check_gate(product: Product, start_utc: datetime, now: datetime, action: str) -> None:
    """``GateClosed`` unless ``gate_opening <= now < gate_closure`` for the interval."""
    closure = gate_closure(product, start_utc)
    opening = gate_opening(product, start_utc)
    if opening is not None and now < opening:
        raise GateClosed(
            f"cannot {action}: the gate for {product.code} delivery {start_utc.isoformat()} "
            f"opens at {opening.isoformat()}",
            field="delivery_start",
        )
    if now >= closure:
        raise GateClosed(
            f"cannot {action}: the gate for {product.code} delivery {start_utc.isoformat()} "
            f"closed at {closure.isoformat()}",
            field="delivery_start",
        )
