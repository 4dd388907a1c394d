"""Checks of the simulated exchange on incoming orders: tick grids, limits, delivery grid and
gate (pure functions; errors name the offending field).

Decimal arithmetic here is exact: a value that is not an exact multiple of its tick, or too
large to convert, is refused, never rounded. Order volumes are capped at
:data:`MAX_ORDER_VOLUME_MW` (or a market's own ``max_order_volume_mw`` when it has one) and
delivery dates must lie in the years :data:`MIN_YEAR` to :data:`MAX_YEAR`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import (
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    localcontext,
)
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
    "MAX_ORDER_VOLUME_MW",
    "MAX_YEAR",
    "MIN_YEAR",
    "GateClosed",
    "check_day",
    "check_gate",
    "delivery_interval",
    "max_order_volume_mw",
    "price_ticks",
    "to_units",
    "volume_lots",
]

MAX_ORDER_VOLUME_MW = Decimal(100_000)
"""Largest volume of one order [MW] unless the market sets ``max_order_volume_mw``."""
MIN_YEAR = 1990
"""Earliest year of a delivery day the venue accepts."""
MAX_YEAR = 2100
"""Latest year of a delivery day the venue accepts."""

# Exact arithmetic: any rounding, overflow or invalid operation raises instead of being silent.
_EXACT = Context(
    prec=60,
    traps=[Inexact, Rounded, Overflow, InvalidOperation, DivisionByZero],
)


class GateClosed(ValidationFailed):
    """The order arrives before the gate opens or after it closes."""

    code = "gate_closed"


def to_units(value: Decimal, unit: Decimal, field: str) -> int:
    """``value / unit`` as an integer, computed exactly; ``ValidationFailed`` naming ``field``
    if ``value`` is not a finite, exact multiple of ``unit`` (no silent rounding) or too large
    to compute."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValidationFailed(f"{field} must be a finite decimal, got {value!r}", field=field)
    try:
        with localcontext(_EXACT):
            units = value / unit
            whole = units == units.to_integral_value()
    except (Inexact, Rounded):
        whole = False
    except ArithmeticError:  # Overflow, InvalidOperation, DivisionByZero
        raise ValidationFailed(f"{field} {value} is out of range", field=field) from None
    if not whole:
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


def max_order_volume_mw(market: Market) -> Decimal:
    """Largest volume of one order [MW]: the market's ``max_order_volume_mw`` if it defines
    one, else :data:`MAX_ORDER_VOLUME_MW`."""
    own = getattr(market, "max_order_volume_mw", None)
    return own if isinstance(own, Decimal) and own > 0 else MAX_ORDER_VOLUME_MW


def volume_lots(market: Market, quantity_mw: Decimal, field: str = "quantity_mw") -> int:
    """Volume [MW] in lots (volume ticks), between the market's minimum order volume and the
    maximum order volume (:func:`max_order_volume_mw`)."""
    lots = to_units(quantity_mw, market.volume_tick_mw, field)
    if quantity_mw < market.min_order_volume_mw:
        raise ValidationFailed(
            f"{field} {quantity_mw} below the minimum order volume "
            f"{market.min_order_volume_mw} MW of {market.code}",
            field=field,
        )
    cap = max_order_volume_mw(market)
    if quantity_mw > cap:
        raise ValidationFailed(
            f"{field} {quantity_mw} above the maximum order volume {cap} MW of {market.code}",
            field=field,
        )
    return lots


def check_day(day: date, field: str = "day") -> None:
    """``ValidationFailed`` naming ``field`` unless ``MIN_YEAR <= day.year <= MAX_YEAR``."""
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ValidationFailed(
            f"{field} {day.isoformat()} outside the years {MIN_YEAR} to {MAX_YEAR}", field=field
        )


def delivery_interval(product: Product, start: datetime) -> tuple[date, int, DeliveryInterval]:
    """The local delivery day, the index in that day's grid and the interval starting at
    ``start`` [UTC]; ``ValidationFailed`` if ``start`` is naive or off the product's grid."""
    try:
        start_utc = as_utc(start, "delivery_start")
        check_day(start_utc.date(), "delivery_start")
        day = start_utc.astimezone(ZoneInfo(product.time_zone)).date()
    except (ValueError, OverflowError) as exc:
        raise ValidationFailed(str(exc), field="delivery_start") from None
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
