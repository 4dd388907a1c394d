import re
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openvpp.core.money import Units, amounts, decimal_steps, round_half_even

U = Units()  # 1 kWh, 0.01 currency/MWh, cents


def test_amounts_round_half_to_even_once_per_element():
    # 0.001 MWh x 5.00 = 0.005 -> 0 cents; x 15.00 = 0.015 -> 2 cents; x 25.00 -> 2 cents
    assert amounts([1, 1, 1, -1], [500, 1500, 2500, 1500], U).tolist() == [0, 2, 2, -2]
    # 12 MWh x 350.00 = 4,200.00
    assert amounts([12_000], [35_000], U).tolist() == [420_000]


def test_a_factor_is_exact():
    # 0.003 MWh x 100.00 x 1/3 = 0.10; 0.001 MWh x 15.00 x -1/2 = -0.0075 -> -0.01 (half even)
    assert amounts([3], [10_000], U, factor=Fraction(1, 3)).tolist() == [10]
    assert amounts([1, 1], [1_500, 500], U, factor=Fraction(-1, 2)).tolist() == [-1, 0]


def test_overflow_is_refused_not_wrapped():
    with pytest.raises(ValueError, match="too large"):
        amounts([2**40], [2**40], U)
    with pytest.raises(ValueError, match="too large"):
        U.energy([1e18])
    with pytest.raises(ValueError, match="finite"):
        U.price([np.nan])


def test_decimal_steps_refuse_values_off_the_grid():
    assert decimal_steps(Decimal("12.34"), Decimal("0.01"), name="p") == 1234
    with pytest.raises(ValueError, match=re.escape("p 12.345 is not a multiple of 0.01")):
        decimal_steps(Decimal("12.345"), Decimal("0.01"), name="p")
    with pytest.raises(ValueError, match="minor_unit"):
        Units(minor_unit=Decimal(0))


@given(st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=50), st.integers(1, 10**6))
def test_round_half_even_matches_decimal(numerators, denominator):
    got = round_half_even(np.array(numerators, dtype=np.int64), denominator).tolist()
    want = [
        int((Decimal(n) / Decimal(denominator)).quantize(Decimal(1), rounding="ROUND_HALF_EVEN"))
        for n in numerators
    ]
    assert got == want
