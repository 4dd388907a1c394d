"""Venue modes of the simulated exchange: historical replay of auction products (price taker and
residual book, DST days, pay-as-bid, missing history) and published imbalance prices
(synthetic per seed, dual ordering, DST settlement grids, real-time history)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from openvpp.core.errors import ValidationFailed
from openvpp.markets.calendar import delivery_intervals
from openvpp.markets.connectors.simulated import SimulatedConnector
from openvpp.markets.exchange import (
    ExchangeStatus,
    ImbalanceConfig,
    NewOrder,
    RealTimeSource,
    ReplayConfig,
    ResidualBookParams,
    SimulatedExchange,
    TradeSide,
)
from openvpp.markets.exchange.wire import auction_json, imbalance_json
from openvpp.markets.imbalance import ImbalanceModel, PriceScheme
from openvpp.markets.model import Market
from openvpp.markets.presets import load_presets

BUY, SELL = TradeSide.BUY, TradeSide.SELL
MARKETS = load_presets()
SDAC = MARKETS["EU-SDAC"]
SPRING, AUTUMN, PLAIN = date(2026, 3, 29), date(2026, 10, 25), date(2026, 3, 30)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.t = now

    def now(self) -> datetime:
        return self.t


def gate_open_clock(day: date) -> Clock:
    """Noon UTC three days before ``day``: SDAC (14 days, D-1 12:00) and aFRR (7 days, D-1
    09:00) gates are open."""
    return Clock(datetime(day.year, day.month, day.day, 12, tzinfo=UTC) - timedelta(days=3))


def history(product_code: str, day: date, values: list[float], market: Market = SDAC) -> pd.Series:
    ivs = delivery_intervals(market.product(product_code), day)
    assert len(ivs) == len(values)
    return pd.Series(values, index=pd.DatetimeIndex([iv.start_utc for iv in ivs]))


def exchange(day: date, **kwargs: object) -> SimulatedExchange:
    return SimulatedExchange(
        MARKETS,
        gate_open_clock(day),
        api_keys={"ka": "a"},
        **kwargs,  # type: ignore[arg-type]
    )


def submit(
    ex: SimulatedExchange,
    cid: str,
    side: TradeSide,
    price: str,
    qty: str,
    start: datetime,
    market: str = "EU-SDAC",
    product: str = "H",
) -> str:
    cmd = NewOrder(cid, market, product, start, side, Decimal(price), Decimal(qty))
    return ex.submit("a", cmd)[0].venue_order_id


# ------------------------------------------------------------------------------- price taker


@pytest.mark.parametrize(("day", "hours"), [(SPRING, 23), (AUTUMN, 25)])
def test_price_taker_on_dst_days(day: date, hours: int) -> None:
    ivs = delivery_intervals(SDAC.product("H"), day)
    assert len(ivs) == hours
    prices = [40.0 + k for k in range(hours)]  # hour k: 40 + k EUR/MWh
    ex = exchange(day, replay=ReplayConfig({("EU-SDAC", "H"): history("H", day, prices)}))
    last = hours - 1
    orders = {
        "s-in": submit(ex, "s-in", SELL, "30", "1.5", ivs[2].start_utc),  # 42 >= 30: filled
        "s-at": submit(ex, "s-at", SELL, "42", "0.5", ivs[2].start_utc),  # at the price: filled
        "s-out": submit(ex, "s-out", SELL, "42.1", "2", ivs[2].start_utc),  # above: expired
        "b-in": submit(ex, "b-in", BUY, "100", "0.7", ivs[last].start_utc),  # filled
        "b-out": submit(ex, "b-out", BUY, "10", "3", ivs[last].start_utc),  # below: expired
    }
    result = ex.run_auction("EU-SDAC", "H", day)
    assert result.cleared and len(result.periods) == hours
    p2, pl = result.periods[2], result.periods[last]
    assert (p2.price, p2.historical_price, p2.price_impact) == (Decimal("42.0"),) * 2 + (
        Decimal("0.0"),
    )
    assert p2.volume_mw == Decimal("2.0") and pl.volume_mw == Decimal("0.7")
    assert pl.price == Decimal(40 + last) and result.periods[0].volume_mw == 0
    fills = {f.client_order_id: f for f in ex.fills_since("a").fills}
    assert set(fills) == {"s-in", "s-at", "b-in"}
    assert (fills["s-in"].price, fills["s-in"].quantity_mw) == (Decimal("42.0"), Decimal("1.5"))
    assert (fills["s-at"].price, fills["s-at"].quantity_mw) == (Decimal("42.0"), Decimal("0.5"))
    assert fills["b-in"].price == Decimal(40 + last) and fills["b-in"].quantity_mw == Decimal("0.7")
    assert fills["b-in"].delivery_start == ivs[last].start_utc
    status = {cid: ex.get_order("a", vid).status for cid, vid in orders.items()}
    assert status == {
        "s-in": ExchangeStatus.FILLED,
        "s-at": ExchangeStatus.FILLED,
        "s-out": ExchangeStatus.EXPIRED,
        "b-in": ExchangeStatus.FILLED,
        "b-out": ExchangeStatus.EXPIRED,
    }
    assert ex.results("EU-SDAC", "H", day) == result
    points = ex.market_data("EU-SDAC", "H", ivs[0].start_utc, ivs[-1].end_utc)
    assert len(points) == hours and points[2].price == Decimal("42.0")
    assert {p.source for p in points} == {"auction"}
    body = auction_json(result)["periods"][2]
    assert body["historical_price"] == "42.0" and body["price_impact"] == "0.0"


def test_history_is_rounded_to_tick_and_not_mutated() -> None:
    series = history("H", PLAIN, [40.23 + k for k in range(24)])
    before = series.copy()
    ex = exchange(PLAIN)
    source = ex.set_replay("EU-SDAC", "H", series)
    pd.testing.assert_series_equal(series, before)
    assert source.rounded == 24 and source.period_min == 60
    result = ex.run_auction("EU-SDAC", "H", PLAIN)
    assert result.periods[0].price == Decimal("40.2")  # 40.23 -> tick 0.1, half to even
    assert result.periods[5].historical_price == Decimal("45.2")


def test_hourly_history_for_quarter_hour_product_repeats() -> None:
    ex = exchange(SPRING)
    ex.set_replay("EU-SDAC", "QH", history("H", SPRING, [40.0 + k for k in range(23)]))
    qh = delivery_intervals(SDAC.product("QH"), SPRING)
    vid = submit(ex, "q", SELL, "0", "1", qh[9].start_utc, product="QH")
    result = ex.run_auction("EU-SDAC", "QH", SPRING)
    assert len(result.periods) == 92
    assert [p.price for p in result.periods[8:12]] == [Decimal("42.0")] * 4
    assert ex.get_order("a", vid).filled_mw == Decimal("1.0")


def test_missing_history_day_is_a_clear_error() -> None:
    ex = exchange(PLAIN)
    ex.set_replay("EU-SDAC", "H", history("H", SPRING, [50.0] * 23))
    ivs = delivery_intervals(SDAC.product("H"), PLAIN)
    vid = submit(ex, "x", SELL, "1", "1", ivs[0].start_utc)
    with pytest.raises(ValidationFailed) as info:
        ex.run_auction("EU-SDAC", "H", PLAIN)
    msg = info.value.message
    assert "EU-SDAC/H" in msg and "2026-03-30" in msg and info.value.field == "day"
    assert not ex.results("EU-SDAC", "H", PLAIN).cleared
    assert ex.get_order("a", vid).active  # nothing happened to the order
    ex.clock.t = datetime(2026, 3, 29, 12, tzinfo=UTC)  # type: ignore[attr-defined]
    assert ex.tick() == []  # the gate closed: tick logs and carries on


def test_partial_history_day_names_the_missing_interval() -> None:
    series = history("H", PLAIN, [50.0] * 24).drop(index=[pd.Timestamp("2026-03-30T05:00Z")])
    ex = exchange(PLAIN, replay=ReplayConfig({("EU-SDAC", "H"): series}))
    with pytest.raises(ValidationFailed, match="2026-03-30T05:00"):
        ex.run_auction("EU-SDAC", "H", PLAIN)


def test_replay_refuses_continuous_markets_and_bad_series() -> None:
    ex = exchange(PLAIN)
    with pytest.raises(ValidationFailed, match="continuous"):
        ex.set_replay("EU-SIDC", "H", history("H", PLAIN, [1.0] * 24))
    naive = pd.Series([1.0, 2.0], index=pd.DatetimeIndex(["2026-03-30 00:00", "2026-03-30 01:00"]))
    with pytest.raises(ValidationFailed, match="tz-aware"):
        ex.set_replay("EU-SDAC", "H", naive)


# ----------------------------------------------------------------------------- residual book


def test_residual_book_small_bid_keeps_price_large_bid_moves_it() -> None:
    params = ResidualBookParams(depth_lots=1000, steps=5, step_lots=100, step_ticks=10)
    ex = exchange(PLAIN)
    ex.set_replay("EU-SDAC", "H", history("H", PLAIN, [50.0] * 24), residual=params)
    ivs = delivery_intervals(SDAC.product("H"), PLAIN)
    small = submit(ex, "small", SELL, "-500", "0.1", ivs[3].start_utc)  # 1 lot
    large = submit(ex, "large", SELL, "40", "50", ivs[7].start_utc)  # 500 lots
    result = ex.run_auction("EU-SDAC", "H", PLAIN)
    p3, p7 = result.periods[3], result.periods[7]
    assert (p3.price, p3.price_impact) == (Decimal("50.0"), Decimal("0.0"))
    # 500 lots against 100-lot steps 10 ticks apart, midpoint rule: 2.5 EUR/MWh lower
    assert (p7.price, p7.historical_price, p7.price_impact) == (
        Decimal("47.5"),
        Decimal("50.0"),
        Decimal("-2.5"),
    )
    assert p7.volume_mw > Decimal(100)  # residual market included
    fills = {f.client_order_id: f for f in ex.fills_since("a").fills}
    assert fills["small"].price == Decimal("50.0") and fills["small"].quantity_mw == Decimal("0.1")
    assert fills["large"].price == Decimal("47.5") and fills["large"].quantity_mw == Decimal("50")
    assert fills["large"].price >= Decimal(40)  # still in the money
    assert ex.get_order("a", small).status is ExchangeStatus.FILLED
    assert ex.get_order("a", large).status is ExchangeStatus.FILLED


# ------------------------------------------------------------------------------- pay-as-bid


def test_pay_as_bid_replay_fills_at_own_price() -> None:
    afrr = MARKETS["DE-AFRR-CAP"]
    ivs = delivery_intervals(afrr.product("POS"), SPRING)
    assert len(ivs) == 6 and ivs[0].end_utc - ivs[0].start_utc == timedelta(hours=3)
    ex = exchange(SPRING)
    ex.set_replay("DE-AFRR-CAP", "POS", history("POS", SPRING, [12.34] * 6, afrr))
    kw = {"market": "DE-AFRR-CAP", "product": "POS"}
    submit(ex, "cheap", SELL, "5.00", "3", ivs[0].start_utc, **kw)
    submit(ex, "dear", SELL, "20.00", "2", ivs[0].start_utc, **kw)
    submit(ex, "buy", BUY, "15.00", "1", ivs[1].start_utc, **kw)
    result = ex.run_auction("DE-AFRR-CAP", "POS", SPRING)
    assert result.periods[0].price == Decimal("12.34") and result.periods[0].volume_mw == 3
    fills = {f.client_order_id: f.price for f in ex.fills_since("a").fills}
    assert fills == {"cheap": Decimal("5.00"), "buy": Decimal("15.00")}


# ------------------------------------------------------------------------- imbalance prices


def _cleared_sdac(
    day: date, seed: int = 7, scheme: PriceScheme = PriceScheme.DUAL
) -> SimulatedExchange:
    n = len(delivery_intervals(SDAC.product("H"), day))
    config = ImbalanceConfig(ImbalanceModel(scheme=scheme), seed=seed)
    ex = exchange(day, imbalance=config)
    ex.set_replay("EU-SDAC", "H", history("H", day, [30.0 + 2 * k for k in range(n)]))
    return ex


@pytest.mark.parametrize(("day", "n"), [(SPRING, 92), (PLAIN, 96), (AUTUMN, 100)])
def test_synthetic_imbalance_dual_on_dst_grids(day: date, n: int) -> None:
    ex = _cleared_sdac(day)
    r = ex.imbalance_prices("EU-SDAC", day)
    assert (r.period_min, r.scheme, r.source, r.reference) == (
        15,
        "dual",
        "synthetic",
        "replay EU-SDAC/H",
    )
    assert len(r.periods) == n
    settle = delivery_intervals(SDAC, day)
    assert [p.delivery_start for p in r.periods] == [iv.start_utc for iv in settle]
    lo, hi = SDAC.clearing_limits.min, SDAC.clearing_limits.max
    for p in r.periods:
        assert p.day_ahead_price is not None
        assert p.short_price >= p.day_ahead_price >= p.long_price
        assert lo <= p.long_price and p.short_price <= hi
    # hourly day-ahead prices repeat over the quarter-hours
    assert [p.day_ahead_price for p in r.periods[:5]] == [Decimal("30.0")] * 4 + [Decimal("32.0")]
    assert any(p.short_price != p.long_price for p in r.periods)


def test_synthetic_imbalance_is_deterministic_per_seed_market_and_day() -> None:
    a = _cleared_sdac(PLAIN, seed=7).imbalance_prices("EU-SDAC", PLAIN)
    b = _cleared_sdac(PLAIN, seed=7)
    b.imbalance_prices("EU-SDAC", PLAIN)  # earlier requests do not shift the draw
    assert b.imbalance_prices("EU-SDAC", PLAIN) == a
    c = _cleared_sdac(PLAIN, seed=8).imbalance_prices("EU-SDAC", PLAIN)
    assert [p.short_price for p in c.periods] != [p.short_price for p in a.periods]
    single = _cleared_sdac(PLAIN, scheme=PriceScheme.SINGLE).imbalance_prices("EU-SDAC", PLAIN)
    assert single.scheme == "single"
    assert all(p.short_price == p.long_price for p in single.periods)


def test_imbalance_prefers_the_cleared_auction_and_needs_day_ahead_prices() -> None:
    ex = exchange(PLAIN)
    with pytest.raises(ValidationFailed, match="no day-ahead prices"):
        ex.imbalance_prices("EU-SDAC", PLAIN)
    with pytest.raises(ValidationFailed, match="unknown market"):
        ex.imbalance_prices("XX", PLAIN)
    ex.set_replay("EU-SDAC", "QH", history("QH", PLAIN, [60.0] * 96))
    ex.set_replay("EU-SDAC", "H", history("H", PLAIN, [20.0] * 24))
    assert ex.imbalance_prices("EU-SDAC", PLAIN).reference == "replay EU-SDAC/QH"
    ex.run_auction("EU-SDAC", "H", PLAIN)
    r = ex.imbalance_prices("EU-SDAC", PLAIN)
    assert r.reference == "auction EU-SDAC/H"
    assert {p.day_ahead_price for p in r.periods} == {Decimal("20.0")}


def test_imbalance_from_real_time_history() -> None:
    settle = delivery_intervals(SDAC, SPRING)
    start, end = settle[0].start_utc, settle[-1].end_utc
    five = pd.date_range(start, end, freq="5min", inclusive="left")
    values = np.arange(len(five), dtype=np.float64)  # 0, 1, 2, ... per 5 minutes
    short = pd.Series(values, index=five)
    config = ImbalanceConfig(real_time={"EU-SDAC": short})
    ex = exchange(SPRING, imbalance=config)
    r = ex.imbalance_prices("EU-SDAC", SPRING)
    assert (r.source, r.scheme, r.reference, len(r.periods)) == ("real_time", "single", None, 92)
    assert r.periods[0].short_price == Decimal("1.0")  # mean of 0, 1, 2
    assert r.periods[1].long_price == Decimal("4.0")  # mean of 3, 4, 5
    assert r.periods[0].day_ahead_price is None
    ex.set_real_time_prices("EU-SDAC", short + 10, long=short - 10)
    dual = ex.imbalance_prices("EU-SDAC", SPRING)
    assert dual.scheme == "dual"
    assert (dual.periods[0].short_price, dual.periods[0].long_price) == (
        Decimal("11.0"),
        Decimal("-9.0"),
    )
    with pytest.raises(ValidationFailed, match="2026-03-30"):
        ex.imbalance_prices("EU-SDAC", PLAIN)  # not covered by the history
    ex.clear_real_time_prices("EU-SDAC")
    with pytest.raises(ValidationFailed, match="no day-ahead prices"):
        ex.imbalance_prices("EU-SDAC", SPRING)
    assert isinstance(config.real_time["EU-SDAC"], RealTimeSource)
    body = imbalance_json(r)
    assert body["periods"][0]["short_price"] == "1.0" and body["source"] == "real_time"


def test_simulated_connector_fetches_imbalance_prices() -> None:
    ex = _cleared_sdac(PLAIN)
    connector = SimulatedConnector(ex, "ka")
    got = asyncio.run(connector.fetch_imbalance_prices("EU-SDAC", PLAIN))
    want = ex.imbalance_prices("EU-SDAC", PLAIN)
    assert got.market == "EU-SDAC" and got.day == PLAIN and len(got.periods) == 96
    assert [p.short_price for p in got.periods] == [p.short_price for p in want.periods]
    assert got.periods[0].day_ahead_price == want.periods[0].day_ahead_price


# ----------------------------------------------------------------- history changing resolution


def _switching_history() -> pd.Series:
    """SDAC-like history: hourly (80) until the 15-min switch on 1 Oct 2025 (Berlin), then
    quarter-hourly cycling 88, 90, 92, 94 (hourly mean 91)."""
    hourly = pd.date_range(
        "2025-09-01", "2025-10-01", freq="h", tz="Europe/Berlin", inclusive="left"
    )
    quarter = pd.date_range(
        "2025-10-01", "2025-11-01", freq="15min", tz="Europe/Berlin", inclusive="left"
    )
    cycle = np.resize(np.array([88.0, 90.0, 92.0, 94.0]), len(quarter))
    return pd.concat([pd.Series(80.0, index=hourly), pd.Series(cycle, index=quarter)])


SWITCH_DAYS = [
    (date(2025, 9, 15), 24),
    (date(2025, 9, 30), 24),  # last hourly day: next day is quarter-hourly
    (date(2025, 10, 1), 24),  # first quarter-hourly day: previous day is hourly
    (date(2025, 10, 26), 25),  # autumn DST day, quarter-hourly
]


@pytest.mark.parametrize(("day", "hours"), SWITCH_DAYS)
@pytest.mark.parametrize("product", ["H", "QH"])
def test_replay_history_that_changes_resolution(day: date, hours: int, product: str) -> None:
    ex = exchange(day)
    ex.set_replay("EU-SDAC", product, _switching_history())
    grid = delivery_intervals(SDAC.product(product), day)
    submit(ex, "s", SELL, "10", "1", grid[0].start_utc, product=product)
    result = ex.run_auction("EU-SDAC", product, day)
    prices = [p.price for p in result.periods]
    assert len(prices) == hours * (4 if product == "QH" else 1)
    if day < date(2025, 10, 1):
        assert set(prices) == {Decimal("80.0")}
    elif product == "H":
        assert set(prices) == {Decimal("91.0")}
    else:
        cycle = [Decimal("88.0"), Decimal("90.0"), Decimal("92.0"), Decimal("94.0")]
        assert prices == cycle * hours
    assert ex.find_order("a", "s").status is ExchangeStatus.FILLED


@pytest.mark.parametrize(("day", "hours"), SWITCH_DAYS)
def test_real_time_history_that_changes_resolution(day: date, hours: int) -> None:
    ex = exchange(day, imbalance=ImbalanceConfig(real_time={"EU-SDAC": _switching_history()}))
    r = ex.imbalance_prices("EU-SDAC", day)
    shorts = [p.short_price for p in r.periods]
    assert len(shorts) == 4 * hours
    if day < date(2025, 10, 1):
        assert set(shorts) == {Decimal("80.0")}
    else:
        assert shorts[:4] == [Decimal("88.0"), Decimal("90.0"), Decimal("92.0"), Decimal("94.0")]
