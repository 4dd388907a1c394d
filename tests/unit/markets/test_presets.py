"""Presets load and validate; malformed market files are refused naming the field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from openvpp.core.errors import ValidationFailed
from openvpp.markets import presets
from openvpp.markets.model import DayBefore, Market, PricingRule, VenueKind
from openvpp.markets.presets import add_markets, load_market_file, load_presets

GOOD = """
markets:
  - code: XX-TEST
    name: test market
    venue: auction
    time_zone: Europe/Berlin
    currency: EUR
    pricing: pay_as_clear
    price_limits: {min: -500, max: 4000}
    price_tick: 0.1
    volume_tick_mw: 0.1
    min_order_volume_mw: 0.1
    products:
      - code: QH
        period_min: 15
        gate_closure: {kind: day_before, days: 1, time: "12:00"}
"""


def test_every_preset_loads() -> None:
    presets = load_presets()
    expected = {
        "EU-SDAC", "EU-SIDC", "DE-FCR", "DE-AFRR-CAP",
        "CN-SD-DA", "CN-SD-RT", "CN-SD-DR", "CN-SD-PEAK",
        "US-ISO-DA", "US-ISO-RT", "US-ISO-DR",
    }  # fmt: skip
    assert expected <= set(presets)
    for code, market in presets.items():
        assert isinstance(market, Market)
        assert market.code == code
        assert all(p.time_zone == market.time_zone for p in market.products)
    assert load_presets() is not presets  # a fresh dict: callers cannot alter the cache


def test_preset_figures() -> None:
    m = load_presets()
    sdac = m["EU-SDAC"]
    assert (sdac.price_limits.min, sdac.price_limits.max) == (Decimal(-500), Decimal(4000))
    assert sorted(p.period_min for p in sdac.products) == [15, 30, 60]
    assert sdac.product("QH").gate_closure == DayBefore(kind="day_before", days=1, time="12:00")
    assert m["EU-SIDC"].venue is VenueKind.CONTINUOUS
    assert m["EU-SIDC"].price_limits.max == 9999
    fcr = m["DE-FCR"]
    assert fcr.pricing is PricingRule.PAY_AS_CLEAR
    assert fcr.venue is VenueKind.CAPACITY_AUCTION
    assert fcr.qualification is not None and fcr.qualification.min_mw == 1
    assert m["DE-AFRR-CAP"].pricing is PricingRule.PAY_AS_BID
    dr = m["CN-SD-DR"]
    assert dr.qualification is not None
    assert (dr.qualification.min_mw, dr.qualification.min_duration_h) == (5, 1)
    assert dr.price_limits.min == 0
    assert dr.price_limits.max == m["CN-SD-DA"].clearing_limits.max * Decimal("1.5")
    assert dr.penalty is not None
    assert (dr.penalty.under_delivery_threshold, dr.penalty.penalty_factor) == (0.5, 0.5)
    da = m["CN-SD-DA"]
    assert (da.price_limits.min, da.price_limits.max) == (-80, 1300)
    assert (da.clearing_limits.min, da.clearing_limits.max) == (-100, 1500)
    assert m["US-ISO-DR"].qualification is not None
    assert m["US-ISO-DR"].qualification.min_mw == Decimal("0.1")
    assert m["US-ISO-RT"].products[0].period_min == 5


def test_user_file_from_text_and_path(tmp_path: Path) -> None:
    assert list(load_market_file(GOOD)) == ["XX-TEST"]
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_market_file(path)["XX-TEST"].products[0].time_zone == "Europe/Berlin"
    assert "XX-TEST" in load_market_file(str(path))


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("max: 4000", "max: -600", "markets.0.price_limits"),
        ("Europe/Berlin", "Europe/Bonn", "markets.0.time_zone"),
        ("currency: EUR", "currency: euro", "markets.0.currency"),
        ("period_min: 15", "period_min: 20", "markets.0.products.0.period_min"),
        ('time: "12:00"', "time: 12:00", "markets.0.products.0.gate_closure.time"),
        ('time: "12:00"', 'time: "25:00"', "markets.0.products.0.gate_closure.time"),
        ("kind: day_before", "kind: whenever", "markets.0.products.0.gate_closure"),
        ("venue: auction", "venue: auction\n    colour: red", "markets.0.colour"),
        ("min_order_volume_mw: 0.1", "min_order_volume_mw: 0.15", "markets.0"),
    ],
)
def test_malformed_file_names_the_field(old: str, new: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        load_market_file(GOOD.replace(old, new))
    assert exc.value.field == field
    assert field in exc.value.message


def test_opening_after_closure_refused() -> None:
    text = GOOD.replace(
        "        gate_closure:",
        "        gate_opening: {kind: before_delivery, minutes: 60}\n        gate_closure:",
    )
    with pytest.raises(ValidationFailed, match="gate_opening must be before gate_closure"):
        load_market_file(text)


def test_not_yaml_refused() -> None:
    with pytest.raises(ValidationFailed, match="not valid YAML"):
        load_market_file("markets: [\n")


def test_user_markets_join_the_presets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(presets, "_USER_MARKETS", {})
    custom = load_market_file(GOOD)
    add_markets(custom, "custom.yaml")
    add_markets(custom, "custom.yaml")  # the same again: no change
    assert load_presets()["XX-TEST"] == custom["XX-TEST"]
    other = load_market_file(GOOD.replace("test market", "another"))
    with pytest.raises(ValidationFailed, match="added before with other rules"):
        add_markets(other, "other.yaml")
    shadow = load_market_file(GOOD.replace("XX-TEST", "EU-SDAC"))
    with pytest.raises(ValidationFailed, match="shipped preset"):
        add_markets(shadow, "shadow.yaml")
    assert load_presets()["EU-SDAC"].name != "test market"
