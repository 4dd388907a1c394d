"""A market's settlement rules applied to one party's or many parties' intervals (pure).

:func:`settle_energy` is the two-settlement system of an energy market with the preset's
contracts for difference, deviation assessment and fees; :func:`settle_response` pays
demand response against a baseline with the preset's under-delivery penalty. Both take float
energies [MWh] and prices [currency/MWh] as numpy arrays of shape ``(n,)`` for one party or
``(m, n)`` for ``m`` resources over ``n`` intervals (prices always ``(n,)``), convert them once
to the integer grids of :func:`units_for`, and return one integer array of minor currency
units per settlement line (:data:`LINES`), each of the energies' shape.

The only inexact step is that conversion: energies round to the preset's
``energy_step_mwh`` (1 kWh by default), prices to :data:`PRICE_TICK`, half to even. Everything
after it is integer arithmetic with one rounding per interval and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np
from numpy.typing import ArrayLike

from openvpp.core.money import IntArray, Units
from openvpp.markets.model import Direction, Market, Settlement
from openvpp.settlement import rules

__all__ = [
    "CFD",
    "DAY_AHEAD",
    "DEVIATION",
    "IMBALANCE",
    "INTRADAY",
    "LINES",
    "PRICE_TICK",
    "RESPONSE",
    "UNDER_DELIVERY",
    "EnergyIntervals",
    "ResponseIntervals",
    "fee_line",
    "settle_energy",
    "settle_response",
    "total",
    "units_for",
]

DAY_AHEAD = "day_ahead"
INTRADAY = "intraday"
IMBALANCE = "imbalance"
CFD = "contract_for_difference"
DEVIATION = "deviation_penalty"
RESPONSE = "response_payment"
UNDER_DELIVERY = "under_delivery_penalty"
FEE_PREFIX = "fee:"
LINES = (DAY_AHEAD, INTRADAY, IMBALANCE, CFD, DEVIATION, RESPONSE, UNDER_DELIVERY)
"""Settlement lines in report order; fees follow as ``fee:<code>``. ``intraday`` is the exact
value of trades on other markets for the same delivery (a settlement run adds it)."""

PRICE_TICK = Decimal("0.0001")
"""Price grid of settlement [currency/MWh]: every market tick and fee rate is a multiple."""


def fee_line(code: str) -> str:
    """The line name of fee ``code``."""
    return f"{FEE_PREFIX}{code}"


def units_for(settlement: Settlement) -> Units:
    """The integer grids a market settles on."""
    return Units(
        energy_step_mwh=settlement.energy_step_mwh,
        price_tick=PRICE_TICK,
        minor_unit=settlement.minor_unit,
    )


def _fraction(value: Decimal | float) -> Fraction:
    # a float from YAML (e.g. 0.5) is taken at its shortest decimal spelling, not its binary value
    return Fraction(Decimal(str(value)))


def _price(values: ArrayLike, n: int, units: Units, name: str) -> IntArray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n,):
        raise ValueError(f"{name} must have one price per interval ({n}), got shape {array.shape}")
    return units.price(array, name=name)


def _energy(values: ArrayLike, shape: tuple[int, ...], units: Units, name: str) -> IntArray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    return units.energy(array, name=name)


@dataclass(frozen=True)
class EnergyIntervals:
    """One settlement's energy-market inputs [MWh per interval, currency/MWh].

    scheduled_mwh : the position the party must deliver, positive = injection; for a VPP its
        net traded energy, for a resource its dispatched schedule. Shape ``(n,)`` or ``(m, n)``.
    metered_mwh : the metered energy, same sign and shape.
    day_ahead_price, real_time_price : ``(n,)``; ``real_time_short_price`` the price a short
        party pays under dual pricing (``None``: single pricing, or the preset's ``single``).
    traded_value : the exact value of the day-ahead trades [minor units], shape as the
        energies, when they did not all clear at ``day_ahead_price`` (pay-as-bid, continuous
        trading); ``None`` values the schedule at ``day_ahead_price``.
    contract_mwh, contract_price : contracts for difference settled against the day-ahead
        price, ``contract_mwh`` shaped as the energies, ``contract_price`` [currency/MWh] too.
    traded_volume_mwh : the gross energy traded (bought plus sold), the basis of ``traded``
        fees; ``None``: the absolute position.
    """

    scheduled_mwh: ArrayLike
    metered_mwh: ArrayLike
    day_ahead_price: ArrayLike
    real_time_price: ArrayLike
    real_time_short_price: ArrayLike | None = None
    traded_value: ArrayLike | None = None
    contract_mwh: ArrayLike | None = None
    contract_price: ArrayLike | None = None
    traded_volume_mwh: ArrayLike | None = None


def settle_energy(inputs: EnergyIntervals, settlement: Settlement) -> dict[str, IntArray]:
    """The lines of an energy market's settlement [minor units], positive = the party receives.

    ``day_ahead`` (position x day-ahead price, or ``traded_value``), ``imbalance``
    ((metered - scheduled) x real-time price), ``contract_for_difference`` when contracts are
    given, ``deviation_penalty`` when the preset assesses deviations, and one ``fee:<code>``
    per preset fee.
    """
    units = units_for(settlement)
    scheduled_f = np.asarray(inputs.scheduled_mwh, dtype=np.float64)
    shape = scheduled_f.shape
    if scheduled_f.ndim not in (1, 2) or shape[-1] == 0:
        raise ValueError(f"scheduled_mwh must be (n,) or (m, n) with n > 0, got shape {shape}")
    n = shape[-1]
    scheduled = units.energy(scheduled_f, name="scheduled_mwh")
    metered = _energy(inputs.metered_mwh, shape, units, "metered_mwh")
    da = _price(inputs.day_ahead_price, n, units, "day_ahead_price")
    rt = _price(inputs.real_time_price, n, units, "real_time_price")
    short: IntArray | None = None
    if inputs.real_time_short_price is not None and settlement.imbalance_pricing == "dual":
        short = _price(inputs.real_time_short_price, n, units, "real_time_short_price")

    lines: dict[str, IntArray] = {}
    if inputs.traded_value is None:
        lines[DAY_AHEAD] = rules.energy_value(scheduled, da, units)
    else:
        value = np.asarray(inputs.traded_value)
        if value.shape != shape or not np.issubdtype(value.dtype, np.integer):
            raise ValueError(f"traded_value must be integers of shape {shape}")
        lines[DAY_AHEAD] = value.astype(np.int64)
    lines[IMBALANCE] = rules.imbalance(metered, scheduled, rt, short, units)
    if inputs.contract_mwh is not None:
        if inputs.contract_price is None:
            raise ValueError("contract_price is required with contract_mwh")
        contract = _energy(inputs.contract_mwh, shape, units, "contract_mwh")
        strike = units.price(
            _broadcast(inputs.contract_price, shape, "contract_price"), name="contract_price"
        )
        lines[CFD] = rules.contract_for_difference(contract, strike, da, units)
    if settlement.deviation is not None:
        rule = settlement.deviation
        lines[DEVIATION] = rules.deviation_penalty(
            metered,
            scheduled,
            da if rule.price == "day_ahead" else rt,
            units,
            tolerance=_fraction(rule.tolerance),
            factor=_fraction(rule.factor),
        )
    traded = (
        scheduled
        if inputs.traded_volume_mwh is None
        else _energy(inputs.traded_volume_mwh, shape, units, "traded_volume_mwh")
    )
    bases = {"traded": traded, "metered": metered, "deviation": metered - scheduled}
    for fee in settlement.fees:
        rate = units.price_of(fee.rate, name=f"fee {fee.code} rate")
        lines[fee_line(fee.code)] = rules.volume_fee(bases[fee.basis], np.int64(rate), units)
    return lines


def _broadcast(values: ArrayLike, shape: tuple[int, ...], name: str) -> ArrayLike:
    array = np.asarray(values, dtype=np.float64)
    try:
        return np.broadcast_to(array, shape)
    except ValueError:
        raise ValueError(f"{name} must broadcast to {shape}, got {array.shape}") from None


@dataclass(frozen=True)
class ResponseIntervals:
    """A demand-response settlement's inputs [MWh per interval, currency/MWh].

    baseline_mwh, load_mwh : the baseline and the metered **consumption** (positive = load),
        ``(n,)`` or ``(m, n)``; award_mwh : the awarded response, same shape; price : the
        response's clearing price ``(n,)``. Intervals outside the event have a zero award.
    """

    baseline_mwh: ArrayLike
    load_mwh: ArrayLike
    award_mwh: ArrayLike
    price: ArrayLike


def settle_response(
    inputs: ResponseIntervals, market: Market, direction: Direction
) -> dict[str, IntArray]:
    """Demand response paid against its baseline, with the market's under-delivery penalty.

    ``direction`` ``up`` is load reduction (response = baseline - load), ``down`` is load
    increase (valley filling, response = load - baseline). Lines ``response_payment`` (capped
    at the preset's ``response_cap`` x award, if set) and ``under_delivery_penalty`` when the
    market has a penalty with a threshold and a factor. Only intervals with an award count.
    """
    if direction not in (Direction.UP, Direction.DOWN):
        raise ValueError(f"direction must be 'up' or 'down' for demand response, got {direction}")
    settlement = market.settlement
    units = units_for(settlement)
    award_f = np.asarray(inputs.award_mwh, dtype=np.float64)
    shape = award_f.shape
    if award_f.ndim not in (1, 2) or shape[-1] == 0:
        raise ValueError(f"award_mwh must be (n,) or (m, n) with n > 0, got shape {shape}")
    if np.any(award_f < 0):
        raise ValueError("award_mwh must not be negative")
    award = units.energy(award_f, name="award_mwh")
    baseline = _energy(inputs.baseline_mwh, shape, units, "baseline_mwh")
    load = _energy(inputs.load_mwh, shape, units, "load_mwh")
    price = _price(inputs.price, shape[-1], units, "price")
    response = baseline - load if direction is Direction.UP else load - baseline
    response = np.where(award > 0, response, 0)
    cap = None if settlement.response_cap is None else _fraction(settlement.response_cap)
    lines = {RESPONSE: rules.response_payment(response, award, price, units, cap=cap)}
    penalty = market.penalty
    if (
        penalty is not None
        and penalty.under_delivery_threshold is not None
        and penalty.penalty_factor is not None
    ):
        lines[UNDER_DELIVERY] = rules.under_delivery_penalty(
            award,
            response,
            price,
            units,
            threshold=_fraction(penalty.under_delivery_threshold),
            factor=_fraction(penalty.penalty_factor),
        )
    return lines


def total(lines: Mapping[str, IntArray]) -> IntArray:
    """The sum of all lines, element-wise [minor units]."""
    arrays = list(lines.values())
    if not arrays:
        raise ValueError("no settlement lines to total")
    out = np.zeros_like(arrays[0])
    for array in arrays:
        out = out + array
    return out
