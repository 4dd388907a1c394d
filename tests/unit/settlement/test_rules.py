"""Hand-computed cases for each settlement rule (units: 1 kWh, 0.01 per MWh, cents)."""

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openvpp.core.money import Units
from openvpp.settlement import rules

U = Units()


def mwh(*values: float) -> np.ndarray:
    return U.energy(list(values))


def price(*values: float) -> np.ndarray:
    return U.price(list(values))


def test_two_settlement_with_a_contract_for_difference():
    # MARKETS.md, China: Q_c (P_c - P_DA) + Q_DA P_DA + (Q_actual - Q_DA) P_RT
    # 10 x (400 - 350) + 12 x 350 + (11.5 - 12) x 380 = 500 + 4,200 - 190 = 4,510.00
    cfd = rules.contract_for_difference(mwh(10), price(400), price(350), U)
    da = rules.energy_value(mwh(12), price(350), U)
    rt = rules.imbalance(mwh(11.5), mwh(12), price(380), None, U)
    assert (cfd.tolist(), da.tolist(), rt.tolist()) == ([50_000], [420_000], [-19_000])
    assert int(cfd[0] + da[0] + rt[0]) == 451_000


def test_imbalance_dual_pricing_uses_the_side_of_the_deviation():
    long_, short = price(30, 30), price(90, 90)
    out = rules.imbalance(mwh(1.0, 0.0), mwh(0.0, 1.0), long_, short, U)
    # long 1 MWh is paid 30; short 1 MWh pays 90
    assert out.tolist() == [3_000, -9_000]


def test_buying_costs_money():
    # a purchase of 2 MWh at 50.00 pays 100.00; at -20.00 it is paid 40.00
    assert rules.energy_value(mwh(-2, -2), price(50, -20), U).tolist() == [-10_000, 4_000]


def test_deviation_penalty_charges_only_the_excess_over_the_band():
    # scheduled 100, actual 96.5: band 3 % = 3 MWh, excess 0.5 MWh x 350 = 175.00
    out = rules.deviation_penalty(
        mwh(96.5, 98, 104), mwh(100, 100, 100), price(350, 350, 350), U, tolerance=Fraction("0.03")
    )
    assert out.tolist() == [-17_500, 0, -35_000]


def test_deviation_penalty_band_is_not_rounded_to_whole_steps():
    # scheduled 0.011 MWh: band 0.00033; actual 0.012: excess 0.00067 MWh x 300 = 0.201 -> 0.20
    out = rules.deviation_penalty(mwh(0.012), mwh(0.011), price(300), U, tolerance=Fraction("0.03"))
    assert out.tolist() == [-20]
    # factor 2 doubles it: 0.402 -> 0.40
    out2 = rules.deviation_penalty(
        mwh(0.012), mwh(0.011), price(300), U, tolerance=Fraction("0.03"), factor=Fraction(2)
    )
    assert out2.tolist() == [-40]


def test_deviation_penalty_never_pays_at_a_negative_price():
    out = rules.deviation_penalty(mwh(0), mwh(10), price(-50), U, tolerance=Fraction(0))
    assert out.tolist() == [0]


def test_guangdong_under_delivery_penalty():
    # award 10 MWh, delivered 3: (10 x 0.5 - 3) x 2,250 x 0.5 = 2,250.00; delivered 6: none;
    # delivered -1 (load rose) counts as 0 delivered: 5 x 2,250 x 0.5 = 5,625.00
    out = rules.under_delivery_penalty(
        mwh(10, 10, 10),
        mwh(3, 6, -1),
        price(2250, 2250, 2250),
        U,
        threshold=Fraction(1, 2),
        factor=Fraction(1, 2),
    )
    assert out.tolist() == [-225_000, 0, -562_500]


def test_response_payment_is_capped_at_a_share_of_the_award():
    out = rules.response_payment(
        mwh(13, 8, -2), mwh(10, 10, 10), price(100, 100, 100), U, cap=Fraction(6, 5)
    )
    assert out.tolist() == [120_000, 80_000, 0]
    uncapped = rules.response_payment(mwh(13), mwh(10), price(100), U, cap=None)
    assert uncapped.tolist() == [130_000]


def test_volume_fee_charges_the_absolute_energy():
    assert rules.volume_fee(mwh(12, -12), price(0.04), U).tolist() == [-48, -48]


def test_fractions_out_of_range_are_refused():
    with pytest.raises(ValueError, match="tolerance must be at least 0"):
        rules.deviation_penalty(mwh(1), mwh(1), price(1), U, tolerance=Fraction(-1, 10))
    with pytest.raises(ValueError, match="threshold must be at least 0 and at most 1"):
        rules.under_delivery_penalty(
            mwh(1), mwh(1), price(1), U, threshold=Fraction(3, 2), factor=Fraction(1)
        )


energies = st.integers(-(10**7), 10**7)
prices = st.integers(-(10**6), 10**7)


@given(st.lists(st.tuples(energies, energies, prices, prices), min_size=1, max_size=40))
def test_rules_equal_their_decimal_definitions(rows):
    actual, scheduled, p_da, p_rt = (np.array(c, dtype=np.int64) for c in zip(*rows, strict=True))
    step, tick, minor = U.energy_step_mwh, U.price_tick, U.minor_unit

    def cents(value: Decimal) -> int:
        return int((value / minor).quantize(Decimal(1), rounding="ROUND_HALF_EVEN"))

    got_rt = rules.imbalance(actual, scheduled, p_rt, None, U).tolist()
    got_pen = rules.deviation_penalty(
        actual, scheduled, p_da, U, tolerance=Fraction("0.05")
    ).tolist()
    for i, (a, s, pd_, pr) in enumerate(rows):
        assert got_rt[i] == cents(Decimal(a - s) * step * Decimal(pr) * tick)
        excess = max(abs(Decimal(a - s)) - Decimal("0.05") * abs(Decimal(s)), Decimal(0))
        assert got_pen[i] == -cents(excess * step * Decimal(max(pd_, 0)) * tick)
