"""Exact money and energy on integer arrays (pure, vectorized).

Settlement never multiplies floats. An energy is a whole number of **energy steps** (e.g. 1 kWh =
0.001 MWh), a price a whole number of **price ticks** (e.g. 0.01 EUR/MWh), an amount a whole
number of **minor currency units** (e.g. euro cents). ``steps x ticks`` is an exact integer
product; :func:`amounts` scales it to minor units with one rounding per element, half to even
(banker's rounding, so a column of half-cent amounts does not drift one way).

Amounts are ``int64``; every function checks that its integer products stay below 2**62 and
raises ``ValueError`` naming the input otherwise, so an overflow can never wrap silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "IntArray",
    "Units",
    "amounts",
    "decimal_steps",
    "round_half_even",
    "to_steps",
]

IntArray = NDArray[np.int64]

MAX_FINE = 2**62
"""Bound of every intermediate integer product (int64 holds 2**63 - 1)."""
_MAX_STEPS = 2.0**52  # floats convert to integers exactly below this


@dataclass(frozen=True, slots=True)
class Units:
    """The integer grids of a settlement.

    energy_step_mwh : smallest energy settled [MWh], e.g. 0.001 (1 kWh).
    price_tick : smallest price [currency/MWh], e.g. 0.01.
    minor_unit : smallest amount [currency], e.g. 0.01 (cents; 0.01 CNY = 1 fen).
    """

    energy_step_mwh: Decimal = Decimal("0.001")
    price_tick: Decimal = Decimal("0.01")
    minor_unit: Decimal = Decimal("0.01")

    def __post_init__(self) -> None:
        for name in ("energy_step_mwh", "price_tick", "minor_unit"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
                raise ValueError(f"{name} must be a positive Decimal, got {value!r}")

    def energy(self, values_mwh: ArrayLike, *, name: str = "energy") -> IntArray:
        """``values_mwh`` [MWh] in energy steps (half to even)."""
        return to_steps(values_mwh, self.energy_step_mwh, name=name)

    def price(self, values: ArrayLike, *, name: str = "price") -> IntArray:
        """``values`` [currency/MWh] in price ticks (half to even)."""
        return to_steps(values, self.price_tick, name=name)

    def price_of(self, value: Decimal, *, name: str = "price") -> int:
        """An exact price [currency/MWh] in ticks; ``ValueError`` if it is off the tick grid."""
        return decimal_steps(value, self.price_tick, name=name)


def to_steps(values: ArrayLike, step: Decimal, *, name: str) -> IntArray:
    """``values`` as whole multiples of ``step``, rounded half to even.

    ``ValueError`` naming ``name`` if a value is not finite or too large to convert exactly.
    """
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite")
    steps = np.rint(array / float(step))
    if steps.size and float(np.abs(steps).max()) > _MAX_STEPS:
        raise ValueError(f"{name} is too large for exact integer settlement")
    return steps.astype(np.int64)


def decimal_steps(value: Decimal, step: Decimal, *, name: str) -> int:
    """An exact ``value`` as a whole number of ``step``; ``ValueError`` if it is off the grid."""
    quotient = Decimal(value) / step
    if not quotient.is_finite() or quotient != quotient.to_integral_value():
        raise ValueError(f"{name} {value} is not a multiple of {step}")
    return int(quotient)


def round_half_even(numerator: IntArray, denominator: int) -> IntArray:
    """``numerator / denominator`` rounded to integers, half to even (``denominator > 0``)."""
    if denominator <= 0:
        raise ValueError(f"denominator must be positive, got {denominator}")
    if denominator == 1:
        return np.asarray(numerator, dtype=np.int64)
    q, r = np.divmod(numerator, np.int64(denominator))  # floor division: 0 <= r < denominator
    up = (2 * r > denominator) | ((2 * r == denominator) & (q % 2 == 1))
    out: IntArray = np.asarray(q + up, dtype=np.int64)
    return out


def _check_bound(largest: float, multiplier: int, name: str) -> None:
    if largest * abs(multiplier) >= MAX_FINE:
        raise ValueError(f"{name} too large for exact integer settlement")


def amounts(
    energy_steps: ArrayLike,
    price_ticks: ArrayLike,
    units: Units,
    *,
    factor: Fraction = Fraction(1),
    name: str = "energy x price",
) -> IntArray:
    """``energy x price x factor`` in minor units, element-wise (numpy broadcasting).

    energy_steps : [energy steps]; price_ticks : [price ticks]; factor : exact multiplier,
    e.g. ``Fraction(1, 2)`` for half the price, or ``Fraction(1, n)`` for an energy given in
    ``1/n`` steps. One rounding per element, half to even. Positive energy at a positive price
    gives a positive amount.
    """
    energy = np.asarray(energy_steps, dtype=np.int64)
    price = np.asarray(price_ticks, dtype=np.int64)
    scale = (
        Fraction(units.energy_step_mwh)
        * Fraction(units.price_tick)
        * factor
        / Fraction(units.minor_unit)
    )
    largest = float(np.abs(energy).max(initial=0)) * float(np.abs(price).max(initial=0))
    _check_bound(largest, scale.numerator, name)
    fine = energy * price * np.int64(scale.numerator)
    return round_half_even(np.asarray(fine, dtype=np.int64), scale.denominator)
