"""Pre-trade risk (RELIABILITY item 7): generated order streams never take the worst-case
position beyond its limit; each rule refuses exactly what it should; the kill switch modes."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.trading.risk import (
    Exposure,
    Limits,
    RecentOrders,
    RiskRequest,
    TradingMode,
    check_order,
    effective_mode,
)

LOT = Decimal("0.1")
LIMITS = Limits(max_position_mw=Decimal(5), max_order_mw=Decimal(2))


def req(side: str, qty: Decimal, price: Decimal = Decimal(50), **kw: object) -> RiskRequest:
    return RiskRequest(side, price, qty, 60, Decimal(-500), Decimal(4000), **kw)  # type: ignore[arg-type]


orders = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell"]),
        st.integers(1, 30),  # lots
        st.integers(0, 100),  # share of the open volume that fills afterwards [%]
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(stream=orders)
def test_generated_streams_never_breach_the_position_limit(
    stream: list[tuple[str, int, int]],
) -> None:
    net = open_buy = open_sell = Decimal(0)
    for side, lots, fill_pct in stream:
        qty = lots * LOT
        decision = check_order(
            req(side, qty), LIMITS, Exposure(net, open_buy, open_sell), TradingMode.ACTIVE
        )
        if decision.accepted:
            assert qty <= LIMITS.max_order_mw  # type: ignore[operator]
            if side == "buy":
                open_buy += qty
            else:
                open_sell += qty
        # some open volume trades: it moves from open to the filled position
        bought = (open_buy * fill_pct / 100).quantize(LOT)
        sold = (open_sell * fill_pct / 100).quantize(LOT)
        open_buy, open_sell, net = open_buy - bought, open_sell - sold, net + bought - sold
        assert abs(net + open_buy) <= LIMITS.max_position_mw  # type: ignore[operator]
        assert abs(net - open_sell) <= LIMITS.max_position_mw  # type: ignore[operator]


ALL_LIMITS = Limits(
    max_position_mw=Decimal(5),
    max_order_mw=Decimal(3),
    max_notional=Decimal(250),
    reference_price=Decimal(60),
    price_band=Decimal(40),
    max_orders_per_second=3,
    max_orders_per_minute=8,
)
arrivals = st.lists(
    st.tuples(
        # ms since the previous order: mostly bursts, now and then a long pause
        st.integers(0, 400) | st.integers(0, 400) | st.integers(0, 400) | st.integers(0, 90_000),
        st.sampled_from(["buy", "sell"]),
        # price [EUR/MWh]: about the collar, or anywhere (beyond the market's limits too)
        st.integers(15, 105) | st.integers(15, 105) | st.integers(-600, 4_100),
        st.integers(1, 20) | st.integers(1, 40),  # lots
        st.sampled_from([15, 60]),  # period of the product [min]
        st.integers(0, 100) | st.just(0),  # share of the open volume that fills then [%]
    ),
    min_size=10,
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(stream=arrivals)
def test_generated_streams_never_breach_any_limit(
    stream: list[tuple[int, str, int, int, int, int]],
) -> None:
    """Every limit at once, orders arriving at generated times: no accepted order breaks the
    collar, the volume, the notional or the position, no second or minute holds more accepted
    orders than its limit, and every refusal names a limit the order would break."""
    lim = ALL_LIMITS
    low, high = Decimal(20), Decimal(100)  # the collar, inside the market's -500 ... 4,000
    net = open_buy = open_sell = Decimal(0)
    now = 0
    accepted_at: list[int] = []  # ms
    for gap, side, price, lots, period, fill_pct in stream:
        now += gap
        qty, px = lots * LOT, Decimal(price)
        last_second = sum(1 for t in accepted_at if now - t < 1_000)
        last_minute = sum(1 for t in accepted_at if now - t < 60_000)
        r = RiskRequest(side, px, qty, period, Decimal(-500), Decimal(4000))
        r = replace(r, recent=RecentOrders(last_second, last_minute))
        decision = check_order(r, lim, Exposure(net, open_buy, open_sell), TradingMode.ACTIVE)
        notional = abs(px) * qty * period / 60
        worst = net + open_buy + qty if side == "buy" else net - open_sell - qty
        breaks = {
            "price_collar": not low <= px <= high,
            "max_order_mw": qty > lim.max_order_mw,  # type: ignore[operator]
            "max_notional": notional > lim.max_notional,  # type: ignore[operator]
            "max_position_mw": abs(worst) > lim.max_position_mw,  # type: ignore[operator]
            "max_orders_per_second": last_second >= lim.max_orders_per_second,  # type: ignore[operator]
            "max_orders_per_minute": last_minute >= lim.max_orders_per_minute,  # type: ignore[operator]
        }
        if decision.accepted:
            assert not any(breaks.values()), breaks
            accepted_at.append(now)
            if side == "buy":
                open_buy += qty
            else:
                open_sell += qty
        else:
            assert breaks.get(str(decision.rule)), (decision, breaks)
        bought = (open_buy * fill_pct / 100).quantize(LOT)
        sold = (open_sell * fill_pct / 100).quantize(LOT)
        open_buy, open_sell, net = open_buy - bought, open_sell - sold, net + bought - sold


def test_each_rule_refuses_what_it_should() -> None:
    limits = Limits(
        max_position_mw=Decimal(10),
        max_order_mw=Decimal(5),
        max_notional=Decimal(200),
        reference_price=Decimal(50),
        price_band=Decimal(10),
        max_orders_per_second=2,
        max_orders_per_minute=10,
    )
    flat = Exposure()
    cases = [
        (req("buy", Decimal(1), Decimal(61)), "price_collar"),
        (req("buy", Decimal(1), Decimal(39)), "price_collar"),
        (req("buy", Decimal(1), Decimal(-600)), "price_collar"),
        (req("buy", Decimal(6)), "max_order_mw"),
        (req("buy", Decimal(5), Decimal(41)), "max_notional"),
        (req("buy", Decimal(4), recent=RecentOrders(last_second=2)), "max_orders_per_second"),
        (req("buy", Decimal(4), recent=RecentOrders(last_minute=10)), "max_orders_per_minute"),
        (req("buy", Decimal(4)), None),
        (req("sell", Decimal("0.5"), Decimal(45)), None),
    ]
    for r, rule in cases:
        assert check_order(r, limits, flat, TradingMode.ACTIVE).rule == rule, r
    long = Exposure(net_filled=Decimal(8))
    assert check_order(req("buy", Decimal(3)), limits, long, TradingMode.ACTIVE).rule == (
        "max_position_mw"
    )
    assert check_order(req("sell", Decimal(3)), limits, long, TradingMode.ACTIVE).accepted
    # a notional is price x volume x hours: a quarter-hour order of 5 MW at 160 is 200
    quarter = RiskRequest("buy", Decimal(160), Decimal(5), 15, Decimal(-500), Decimal(4000))
    assert check_order(
        quarter, Limits(max_notional=Decimal(200)), flat, TradingMode.ACTIVE
    ).accepted


def test_modes() -> None:
    long = Exposure(net_filled=Decimal(3), open_sell=Decimal(1))
    none = Limits()
    halted = check_order(req("sell", Decimal(1)), none, long, TradingMode.HALTED)
    assert halted.rule == "halted"
    assert check_order(req("sell", Decimal(2)), none, long, TradingMode.REDUCING).accepted
    assert check_order(req("sell", Decimal(3)), none, long, TradingMode.REDUCING).rule == "reducing"
    assert check_order(req("buy", Decimal(1)), none, long, TradingMode.REDUCING).rule == "reducing"
    assert effective_mode(TradingMode.ACTIVE, TradingMode.REDUCING) is TradingMode.REDUCING
    assert effective_mode(TradingMode.HALTED, TradingMode.REDUCING) is TradingMode.HALTED
    assert effective_mode() is TradingMode.ACTIVE
