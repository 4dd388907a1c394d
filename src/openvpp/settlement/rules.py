"""Settlement rules: pure, exact, vectorized over any array shape.

Conventions (as in :mod:`openvpp.markets.imbalance`):

- **Energy** is in integer energy steps of :class:`~openvpp.core.money.Units`, positive for
  **injection** (energy sold or delivered to the grid), negative for withdrawal.
- **Prices** are integer price ticks [currency/MWh].
- **Amounts** are integer minor currency units, positive when the settled party **receives**
  money, negative when it pays.

Each rule rounds once per element, half to even (:func:`openvpp.core.money.amounts`), so a
rule applied to the intervals of a day and summed equals the same rule summed by hand from the
rounded interval amounts. Fractions (tolerances, thresholds, factors) are exact
:class:`~fractions.Fraction` values, e.g. ``Fraction("0.03")``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from numpy.typing import ArrayLike

from openvpp.core.money import IntArray, Units, amounts

__all__ = [
    "contract_for_difference",
    "deviation_penalty",
    "energy_value",
    "imbalance",
    "response_payment",
    "under_delivery_penalty",
    "volume_fee",
]


def _ints(values: ArrayLike) -> IntArray:
    return np.asarray(values, dtype=np.int64)


def _fraction(value: Fraction, name: str, *, upper: Fraction | None = None) -> Fraction:
    value = Fraction(value)
    if value < 0 or (upper is not None and value > upper):
        bound = f" and at most {upper}" if upper is not None else ""
        raise ValueError(f"{name} must be at least 0{bound}, got {value}")
    return value


def energy_value(energy: ArrayLike, price: ArrayLike, units: Units) -> IntArray:
    """``energy x price``: a position settled at its market price, e.g. the day-ahead leg of
    the two-settlement system (``Q_DA x P_DA``). A sale at a positive price receives money."""
    return amounts(energy, price, units, name="energy x price")


def imbalance(
    actual: ArrayLike,
    scheduled: ArrayLike,
    long_price: ArrayLike,
    short_price: ArrayLike | None,
    units: Units,
) -> IntArray:
    """The real-time leg ``(Q_actual - Q_scheduled) x P_RT``.

    A positive deviation (more injection than scheduled: the party is long) is paid the
    ``long_price``, a negative one pays the ``short_price``. ``short_price`` ``None`` means
    single pricing (one real-time price for both sides, e.g. the German reBAP or a real-time
    LMP).
    """
    deviation = _ints(actual) - _ints(scheduled)
    short = long_price if short_price is None else short_price
    price = np.where(deviation > 0, _ints(long_price), _ints(short))
    return amounts(deviation, price, units, name="deviation x real-time price")


def contract_for_difference(
    contract_energy: ArrayLike, strike: ArrayLike, reference: ArrayLike, units: Units
) -> IntArray:
    """A contract for difference ``Q_contract x (P_contract - P_reference)``.

    contract_energy : the contract's energy in the interval, positive when the party sold it
        [steps]; strike : the contract price [ticks]; reference : the spot price it settles
        against, e.g. the day-ahead price [ticks]. A seller receives the difference when the
        spot price is below the strike and pays it when above.
    """
    difference = _ints(strike) - _ints(reference)
    return amounts(contract_energy, difference, units, name="contract energy x price difference")


def deviation_penalty(
    actual: ArrayLike,
    scheduled: ArrayLike,
    price: ArrayLike,
    units: Units,
    *,
    tolerance: Fraction,
    factor: Fraction = Fraction(1),
) -> IntArray:
    """Deviation assessment with a tolerance band (偏差考核), <= 0.

    The part of ``|actual - scheduled|`` beyond ``tolerance x |scheduled|`` pays
    ``excess x price x factor``. Exact: the band is not rounded to whole steps; the excess is
    carried in ``1/d`` steps, ``d`` the tolerance's denominator, and the amount rounded once.
    A negative price never turns the penalty into a payment (it counts as 0).
    """
    tol = _fraction(tolerance, "tolerance")
    factor = _fraction(factor, "factor")
    scheduled_i = _ints(scheduled)
    deviation = np.abs(_ints(actual) - scheduled_i)
    excess = np.maximum(
        deviation * np.int64(tol.denominator) - np.abs(scheduled_i) * np.int64(tol.numerator), 0
    )
    charged = np.maximum(_ints(price), 0)
    return -amounts(
        excess, charged, units, factor=factor / tol.denominator, name="deviation x price"
    )


def under_delivery_penalty(
    award: ArrayLike,
    delivered: ArrayLike,
    price: ArrayLike,
    units: Units,
    *,
    threshold: Fraction,
    factor: Fraction,
) -> IntArray:
    """Penalty for delivering less than ``threshold`` of an award, <= 0.

    Guangdong demand response: below ``R1 = 50 %`` of the award the party pays
    ``(award x R1 - delivered) x price x M`` with ``M = 0.5``. ``award`` and ``delivered`` are
    non-negative response energies [steps] (``delivered`` as measured against the baseline);
    a negative price counts as 0.
    """
    r1 = _fraction(threshold, "threshold", upper=Fraction(1))
    m = _fraction(factor, "factor")
    short = np.maximum(
        _ints(award) * np.int64(r1.numerator)
        - np.maximum(_ints(delivered), 0) * np.int64(r1.denominator),
        0,
    )
    charged = np.maximum(_ints(price), 0)
    return -amounts(short, charged, units, factor=m / r1.denominator, name="shortfall x price")


def response_payment(
    delivered: ArrayLike,
    award: ArrayLike,
    price: ArrayLike,
    units: Units,
    *,
    cap: Fraction | None = Fraction(1),
) -> IntArray:
    """Payment for demand response, >= 0: the delivered response at the clearing price.

    delivered : response measured against the baseline [steps] (baseline - actual load for
        load reduction); a negative response is paid nothing (the penalty rule handles it).
    cap : the share of the award that is paid at most, e.g. ``Fraction(6, 5)`` for 120 %;
        ``None`` pays any response.
    """
    response = np.maximum(_ints(delivered), 0)
    if cap is None:
        return amounts(response, np.maximum(_ints(price), 0), units, name="response x price")
    c = _fraction(cap, "cap")
    paid_fine = np.minimum(
        response * np.int64(c.denominator), np.maximum(_ints(award), 0) * np.int64(c.numerator)
    )
    return amounts(
        paid_fine,
        np.maximum(_ints(price), 0),
        units,
        factor=Fraction(1, c.denominator),
        name="response x price",
    )


def volume_fee(energy: ArrayLike, rate: ArrayLike, units: Units) -> IntArray:
    """A fee on the absolute energy, ``-|energy| x rate``, <= 0 for a non-negative ``rate``
    [ticks per MWh], e.g. an exchange's trading fee or a grid fee."""
    return -amounts(np.abs(_ints(energy)), rate, units, name="energy x fee rate")
