"""Simulated exchange core: idempotent client ids, gate checks, continuous matching, auctions on
DST days, fills cursor, errors naming fields, automatic clearing, fault rules."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from openvpp.core.errors import AuthenticationFailed, Conflict, NotFound, ValidationFailed
from openvpp.markets.calendar import delivery_intervals
from openvpp.markets.exchange import (
    ExchangeStatus,
    ExecType,
    FaultInjector,
    FaultMode,
    FaultSpec,
    GateClosed,
    NewOrder,
    SimulatedExchange,
    TradeSide,
    parse_fault,
)
from openvpp.markets.exchange.faults import AFTER_MODES, BEFORE_MODES
from openvpp.markets.exchange.wire import auction_json
from openvpp.markets.presets import load_presets

BUY, SELL = TradeSide.BUY, TradeSide.SELL
NOW = datetime(2026, 3, 27, 16, 0, tzinfo=UTC)
H_START = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.t = now

    def now(self) -> datetime:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ex(clock: Clock) -> SimulatedExchange:
    return SimulatedExchange(load_presets(), clock, api_keys={"ka": "a", "kb": "b"})


def order(
    cid: str,
    side: TradeSide = SELL,
    price: str = "50",
    qty: str = "1.0",
    *,
    start: datetime = H_START,
    market: str = "EU-SIDC",
    product: str = "H",
    kind: ExecType = ExecType.LIMIT,
    clip: str | None = None,
) -> NewOrder:
    return NewOrder(
        cid,
        market,
        product,
        start,
        side,
        Decimal(price),
        Decimal(qty),
        kind,
        None if clip is None else Decimal(clip),
    )


def test_accounts_by_api_key(ex: SimulatedExchange) -> None:
    assert ex.account_for("ka") == "a"
    with pytest.raises(AuthenticationFailed):
        ex.account_for("nope")
    with pytest.raises(AuthenticationFailed):
        ex.account_for(None)


def test_client_order_id_is_idempotent_per_account(ex: SimulatedExchange) -> None:
    first, created = ex.submit("a", order("c1", price="50.0"))
    again, created_again = ex.submit("a", order("c1", price="50"))  # same value, other scale
    assert created and not created_again and again == first
    with pytest.raises(Conflict) as info:
        ex.submit("a", order("c1", price="51"))
    assert info.value.field == "client_order_id"
    other, created_b = ex.submit("b", order("c1", BUY, price="40"))  # another account
    assert created_b and other.venue_order_id != first.venue_order_id
    assert len(ex.orders()) == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"price": "50.001"}, "price"),
        ({"price": "10000"}, "price"),
        ({"qty": "0.15"}, "quantity_mw"),
        ({"qty": "0.0"}, "quantity_mw"),
        ({"market": "XX"}, "market"),
        ({"product": "ZZ"}, "product"),
        ({"start": H_START + timedelta(minutes=30)}, "delivery_start"),
        ({"kind": ExecType.ICEBERG}, "order"),
    ],
)
def test_invalid_orders_name_the_field(
    ex: SimulatedExchange, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        ex.submit("a", order("bad", **kwargs))  # type: ignore[arg-type]
    assert info.value.field == field
    assert ex.orders() == []
    with pytest.raises(NotFound):
        ex.find_order("a", "bad")  # a refused order does not use up the client id


def test_naive_delivery_start_is_refused(ex: SimulatedExchange) -> None:
    with pytest.raises(ValidationFailed, match="offset") as info:
        ex.submit("a", order("n", start=H_START.replace(tzinfo=None)))
    assert info.value.field == "delivery_start"


def test_gate_opening_and_closure(ex: SimulatedExchange, clock: Clock) -> None:
    clock.t = datetime(2026, 3, 27, 13, 59, tzinfo=UTC)  # opens 15:00 Brussels (CET) = 14:00Z
    with pytest.raises(GateClosed, match="opens at"):
        ex.submit("a", order("early"))
    clock.t = datetime(2026, 3, 27, 14, 0, tzinfo=UTC)
    ex.submit("a", order("ok"))
    clock.t = H_START - timedelta(minutes=5)  # closes 5 min before delivery
    with pytest.raises(GateClosed, match="closed at") as info:
        ex.submit("a", order("late"))
    assert info.value.field == "delivery_start" and info.value.code == "gate_closed"
    with pytest.raises(GateClosed):
        ex.cancel("a", ex.find_order("a", "ok").venue_order_id)


def test_continuous_matching_fills_and_cursor(ex: SimulatedExchange) -> None:
    s1, _ = ex.submit("a", order("s1", SELL, "50", "1.0"))
    s2, _ = ex.submit("a", order("s2", SELL, "49", "0.5"))
    b1, _ = ex.submit("b", order("b1", BUY, "55", "1.2"))
    assert b1.status is ExchangeStatus.FILLED and b1.filled_mw == Decimal("1.2")
    assert ex.get_order("a", s2.venue_order_id).status is ExchangeStatus.FILLED
    s1_now = ex.get_order("a", s1.venue_order_id)
    assert s1_now.status is ExchangeStatus.PARTIALLY_FILLED and s1_now.active
    assert s1_now.filled_mw == Decimal("0.7")
    buys = ex.fills_since("b").fills
    assert [(f.price, f.quantity_mw) for f in buys] == [
        (Decimal("49.00"), Decimal("0.5")),
        (Decimal("50.00"), Decimal("0.7")),
    ]
    sells = ex.fills_since("a")
    all_ids = [f.trade_id for f in buys] + [f.trade_id for f in sells.fills]
    assert len(set(all_ids)) == 4
    seqs = [f.seq for f in sells.fills]
    assert seqs == sorted(seqs)
    assert ex.fills_since("a", after=sells.next_after).fills == ()
    assert ex.fills_since("a", after=seqs[0]).fills == sells.fills[1:]
    assert ex.fills_since("a", limit=1).next_after == seqs[0]
    points = ex.market_data("EU-SIDC", "H", H_START, H_START + timedelta(hours=1))
    assert len(points) == 1 and points[0].price == Decimal("50.00")
    assert points[0].volume_mw == Decimal("1.2")


def test_ioc_fok_iceberg_modify_cancel(ex: SimulatedExchange) -> None:
    ex.submit("a", order("s", SELL, "50", "1.0"))
    fok, _ = ex.submit("b", order("fok", BUY, "60", "2.0", kind=ExecType.FOK))
    assert fok.status is ExchangeStatus.REJECTED and not fok.active
    ioc, _ = ex.submit("b", order("ioc", BUY, "60", "2.0", kind=ExecType.IOC))
    assert ioc.status is ExchangeStatus.CANCELLED and ioc.filled_mw == Decimal("1.0")
    ice, _ = ex.submit("a", order("ice", SELL, "52", "3.0", kind=ExecType.ICEBERG, clip="1.0"))
    assert ice.active and ice.clip_mw == Decimal("1.0")
    m = ex.modify("a", ice.venue_order_id, price=Decimal("51"), quantity_mw=Decimal("2.0"))
    assert m.price == Decimal("51") and m.quantity_mw == Decimal("2.0")
    with pytest.raises(ValidationFailed):
        ex.modify("a", ice.venue_order_id)
    c = ex.cancel("a", ice.venue_order_id)
    assert c.status is ExchangeStatus.CANCELLED and not c.active
    with pytest.raises(Conflict):
        ex.cancel("a", ice.venue_order_id)
    with pytest.raises(NotFound):
        ex.cancel("b", ice.venue_order_id)  # not b's order


def test_auction_day_with_dst_fills_and_results(ex: SimulatedExchange) -> None:
    day = date(2026, 3, 29)  # 92 quarter-hours in Europe/Brussels
    grid = delivery_intervals(ex.markets["EU-SDAC"].product("QH"), day)
    kw = {"market": "EU-SDAC", "product": "QH"}
    ex.submit("a", order("s", SELL, "40", "2", start=grid[90].start_utc, **kw))  # type: ignore[arg-type]
    ex.submit("b", order("d", BUY, "60", "1.5", start=grid[90].start_utc, **kw))  # type: ignore[arg-type]
    ex.submit("b", order("x", BUY, "10", "1", start=grid[0].start_utc, **kw))  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed):
        ex.submit("b", order("ioc", BUY, start=grid[0].start_utc, kind=ExecType.IOC, **kw))  # type: ignore[arg-type]
    assert not ex.results("EU-SDAC", "QH", day).cleared
    result = ex.run_auction("EU-SDAC", "QH", day)
    assert len(result.periods) == 92 and result.cleared
    assert result.periods[90].price == Decimal("40.0")
    assert result.periods[90].volume_mw == Decimal("1.5")
    assert result.periods[1].price is None
    assert ex.run_auction("EU-SDAC", "QH", day) is result  # idempotent
    assert ex.find_order("a", "s").status is ExchangeStatus.PARTIALLY_FILLED
    assert ex.find_order("b", "d").status is ExchangeStatus.FILLED
    assert ex.find_order("b", "x").status is ExchangeStatus.EXPIRED
    fills = ex.fills_since("b").fills
    assert [(f.client_order_id, f.price, f.quantity_mw) for f in fills] == [
        ("d", Decimal("40.0"), Decimal("1.5"))
    ]
    with pytest.raises(ValidationFailed, match="already cleared"):
        ex.submit("a", order("late", start=grid[5].start_utc, **kw))  # type: ignore[arg-type]
    data = ex.market_data("EU-SDAC", "QH", grid[90].start_utc, grid[91].end_utc)
    assert [p.price for p in data] == [Decimal("40.0"), None]
    with pytest.raises(ValidationFailed):
        ex.run_auction("EU-SIDC", "H", day)
    assert result.periods[90].historical_price is None  # cleared from orders, not replayed
    body = auction_json(result)["periods"][90]
    assert set(body) == {"delivery_start", "delivery_end", "price", "volume_mw"}  # wire unchanged


def test_tick_clears_auctions_at_gate_closure_and_expires_continuous(
    ex: SimulatedExchange, clock: Clock
) -> None:
    day = date(2026, 10, 25)  # 100 quarter-hours
    clock.t = datetime(2026, 10, 23, 9, 0, tzinfo=UTC)
    grid = delivery_intervals(ex.markets["EU-SDAC"].product("QH"), day)
    ex.submit(
        "a", order("s", SELL, "30", "1", start=grid[0].start_utc, market="EU-SDAC", product="QH")
    )
    sidc_start = datetime(2026, 10, 24, 6, 0, tzinfo=UTC)
    clock.t = datetime(2026, 10, 23, 15, 0, tzinfo=UTC)
    resting, _ = ex.submit("a", order("r", SELL, "30", "1", start=sidc_start))
    assert ex.tick() == []
    clock.t = datetime(2026, 10, 24, 10, 0, tzinfo=UTC)  # 12:00 CEST D-1 passed
    cleared = ex.tick()
    assert [(r.day, len(r.periods)) for r in cleared] == [(day, 100)]
    assert ex.find_order("a", "s").status is ExchangeStatus.EXPIRED  # no buyer
    assert ex.get_order("a", resting.venue_order_id).status is ExchangeStatus.EXPIRED
    assert ex.tick() == []


def test_pay_as_bid_capacity_auction(ex: SimulatedExchange, clock: Clock) -> None:
    market = ex.markets["DE-AFRR-CAP"]
    product = market.products[0]
    day = date(2026, 4, 2)
    clock.t = datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    grid = delivery_intervals(product, day)
    kw = {"market": market.code, "product": product.code, "start": grid[0].start_utc}
    ex.submit("a", order("s1", SELL, "5", "1", **kw))  # type: ignore[arg-type]
    ex.submit("a", order("s2", SELL, "7", "1", **kw))  # type: ignore[arg-type]
    ex.submit("b", order("d", BUY, "9", "2", **kw))  # type: ignore[arg-type]
    ex.run_auction(market.code, product.code, day)
    prices = sorted(f.price for f in ex.fills_since("a").fills)
    assert prices == [Decimal("5.00"), Decimal("7.00")]


def test_concurrent_submissions_of_one_client_id_create_one_order(ex: SimulatedExchange) -> None:
    barrier = threading.Barrier(20)
    ids: list[str] = []

    def worker() -> None:
        barrier.wait()
        ids.append(ex.submit("a", order("same"))[0].venue_order_id)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1 and len(ex.orders()) == 1


def test_health(ex: SimulatedExchange) -> None:
    assert ex.health()["status"] == "ok" and ex.health()["time"] == NOW.isoformat()


def test_fault_rules_count_probability_and_parsing() -> None:
    inj = FaultInjector([FaultSpec(FaultMode.DROP_ACK, ("submit",), count=2)])
    assert inj.pick("submit", BEFORE_MODES) is None
    assert inj.pick("cancel", AFTER_MODES) is None
    assert inj.pick("submit", AFTER_MODES) is not None
    assert inj.pick("submit", AFTER_MODES) is not None
    assert inj.pick("submit", AFTER_MODES) is None
    assert inj.specs()[0].hits == 2
    never = FaultInjector([FaultSpec(FaultMode.MALFORMED, probability=0.0)])
    assert never.pick("fills", AFTER_MODES) is None
    assert parse_fault("drop_ack,endpoints=imbalance_prices").endpoints == ("imbalance_prices",)
    spec = parse_fault("error_5xx_after,endpoints=submit+cancel,count=3,status=503")
    assert spec.endpoints == ("submit", "cancel") and spec.count == 3 and spec.status == 503
    for bad in ("nope", "drop_ack,count=0", "drop_ack,endpoints=x", "drop_ack,colour=red"):
        with pytest.raises(ValueError):
            parse_fault(bad)


def test_empty_api_keys_admit_nobody_until_added(clock: Clock) -> None:
    ex = SimulatedExchange(load_presets(), clock, api_keys={})
    with pytest.raises(AuthenticationFailed):
        ex.account_for("test-key")
    ex.add_account("k", "acct")
    ex.add_account("k", "other")  # a key keeps its first account
    assert ex.account_for("k") == "acct"
    assert SimulatedExchange(load_presets(), clock).account_for("test-key") == "test"


# ---------------------------------------------------------------------------- limits (review)

SDAC_DAY = date(2026, 3, 28)
SDAC_START = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)  # SDAC gate for 28 Mar closed at 16:00 UTC
EARLY = datetime(2026, 3, 27, 8, 0, tzinfo=UTC)


def sdac(cid: str, side: TradeSide = BUY, price: str = "50", qty: str = "1") -> NewOrder:
    return order(cid, side, price, qty, start=SDAC_START, market="EU-SDAC", product="H")


@pytest.mark.parametrize("qty", ["300000000", "1E+30", "100000.1"])
def test_oversized_order_is_refused_at_submit(
    ex: SimulatedExchange, clock: Clock, qty: str
) -> None:
    with pytest.raises(ValidationFailed, match="maximum order volume") as info:
        ex.submit("a", order("big-c", qty=qty))  # continuous
    assert info.value.field == "quantity_mw"
    clock.t = EARLY
    with pytest.raises(ValidationFailed, match="maximum order volume") as info:
        ex.submit("a", sdac("big", qty=qty))  # auction
    assert info.value.field == "quantity_mw" and ex.orders() == []
    ok, _ = ex.submit("a", sdac("max", qty="100000"))  # the cap itself is allowed
    with pytest.raises(ValidationFailed) as info:
        ex.modify("a", ok.venue_order_id, quantity_mw=Decimal(qty))
    assert info.value.field == "quantity_mw"
    assert ex.get_order("a", ok.venue_order_id).quantity_mw == Decimal("100000")
    assert ex.run_auction("EU-SDAC", "H", SDAC_DAY).cleared


def test_day_total_lots_stay_within_the_clearing_limit(ex: SimulatedExchange, clock: Clock) -> None:
    from openvpp.markets.clearing.auction import MAX_TOTAL_LOTS

    clock.t = EARLY
    per_order = 1_000_000  # lots of 100000 MW at 0.1 MW
    n = MAX_TOTAL_LOTS // per_order  # 2147 orders fit
    for i in range(n):
        ex.submit("a", sdac(f"b{i}", qty="100000"))
    with pytest.raises(ValidationFailed, match="total") as info:
        ex.submit("b", sdac("over", qty="100000"))
    assert info.value.field == "quantity_mw"
    ex.submit("b", sdac("sell", SELL, qty="100000"))  # the other side has its own total
    small, _ = ex.submit("b", sdac("small", qty="1"))
    with pytest.raises(ValidationFailed, match="total") as info:
        ex.modify("b", small.venue_order_id, quantity_mw=Decimal("100000"))
    assert info.value.field == "quantity_mw"
    ex.cancel("a", ex.find_order("a", "b0").venue_order_id)  # cancelled orders do not count
    ex.submit("b", sdac("after-cancel", qty="10000"))
    result = ex.run_auction("EU-SDAC", "H", SDAC_DAY)
    volumes = {r.delivery_start: r.volume_mw for r in result.periods}
    assert result.cleared and volumes[SDAC_START] == Decimal("100000")


@pytest.mark.parametrize("lots", [3_000_000_000, 10**30])
def test_a_day_that_cannot_clear_does_not_block_the_others(
    ex: SimulatedExchange, clock: Clock, lots: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Defence in depth: an order the clearing cannot take (state from before the caps) fails
    its own day only; later days clear and continuous orders still expire."""
    clock.t = EARLY
    bad, _ = ex.submit("a", sdac("bad"))
    unit = ex._auction_units[bad.venue_order_id]
    ex._auction_units[bad.venue_order_id] = dataclasses.replace(unit, lots=lots)
    later, _ = ex.submit(
        "b", order("later", SELL, "40", "5", start=SDAC_START + timedelta(days=1), market="EU-SDAC")
    )
    clock.t = NOW
    resting, _ = ex.submit("b", order("rest", SELL, "40", "5"))  # EU-SIDC, 28 Mar 09:00
    with pytest.raises(ValidationFailed) as info:
        ex.run_auction("EU-SDAC", "H", SDAC_DAY)
    assert info.value.field == "day" and "28" in info.value.message
    clock.t = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # every gate above has closed
    with caplog.at_level("WARNING", logger="openvpp.markets.exchange.core"):
        cleared = ex.tick()
        assert ex.tick() == []
    assert [r.day for r in cleared] == [SDAC_DAY + timedelta(days=1)]
    assert ex.get_order("b", later.venue_order_id).status is ExchangeStatus.EXPIRED  # no buyer
    assert ex.get_order("b", resting.venue_order_id).status is ExchangeStatus.EXPIRED
    assert not ex.results("EU-SDAC", "H", SDAC_DAY).cleared
    assert ex.get_order("a", bad.venue_order_id).active  # its day stays open
    assert sum("not cleared" in r.getMessage() for r in caplog.records) == 1  # logged once


def test_tick_survives_an_unexpected_error_in_one_day(
    ex: SimulatedExchange, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.t = EARLY
    ex.submit("a", sdac("one"))
    ex.submit("a", order("two", start=SDAC_START + timedelta(days=1), market="EU-SDAC"))
    original = ex._clear_day

    def flaky(market: Any, product: Any, day: date, orders: Any) -> Any:
        if day == SDAC_DAY:
            raise RuntimeError("boom")
        return original(market, product, day, orders)

    monkeypatch.setattr(ex, "_clear_day", flaky)
    clock.t = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    assert [r.day for r in ex.tick()] == [SDAC_DAY + timedelta(days=1)]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"qty": "1.00000000000000000000000000001"}, "quantity_mw"),
        ({"price": "50.0000000000000000000000000001"}, "price"),
        ({"price": "-499.900000000000000000000000000001"}, "price"),
        ({"price": "9E+999999"}, "price"),
        ({"qty": "9E+999999"}, "quantity_mw"),
        ({"price": "1E-999999"}, "price"),
        (
            {"kind": ExecType.ICEBERG, "qty": "2", "clip": "0.50000000000000000000000000001"},
            "clip_mw",
        ),
        ({"kind": ExecType.ICEBERG, "qty": "2", "clip": "9E+999999"}, "clip_mw"),
    ],
)
def test_off_grid_and_overflowing_values_are_refused_exactly(
    ex: SimulatedExchange, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        ex.submit("a", order("x", **kwargs))  # type: ignore[arg-type]
    assert info.value.field == field
    assert ex.orders() == []


def test_modify_refuses_off_grid_and_overflowing_values(ex: SimulatedExchange) -> None:
    o, _ = ex.submit("a", order("m"))
    for price, qty, field in [
        ("50.0000000000000000000000000001", None, "price"),
        ("9E+999999", None, "price"),
        (None, "1.00000000000000000000000000001", "quantity_mw"),
        (None, "9E+999999", "quantity_mw"),
    ]:
        with pytest.raises(ValidationFailed) as info:
            ex.modify(
                "a",
                o.venue_order_id,
                price=None if price is None else Decimal(price),
                quantity_mw=None if qty is None else Decimal(qty),
            )
        assert info.value.field == field
    assert ex.get_order("a", o.venue_order_id) == o


@pytest.mark.parametrize(
    "start",
    [datetime(9999, 12, 31, 12, 0, tzinfo=UTC), datetime(1, 1, 1, 12, 0, tzinfo=UTC)],
)
def test_far_delivery_dates_are_refused(ex: SimulatedExchange, start: datetime) -> None:
    with pytest.raises(ValidationFailed) as info:
        ex.submit("a", order("far", start=start))
    assert info.value.field == "delivery_start"


@pytest.mark.parametrize("day", [date(9999, 12, 31), date(1, 1, 1)])
def test_run_auction_refuses_far_days(ex: SimulatedExchange, day: date) -> None:
    with pytest.raises(ValidationFailed) as info:
        ex.run_auction("EU-SDAC", "H", day)
    assert info.value.field == "day"
