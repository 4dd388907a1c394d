"""Fuzzing of the connector's response parsers (RELIABILITY item 21): any JSON value, or a
valid answer with one field mutated, parses or raises ``ValueError``; nothing else escapes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.markets.connectors import wire

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=25,
)

ORDER = {
    "venue_order_id": "V1",
    "client_order_id": "c1",
    "market": "EU-SDAC",
    "product": "H",
    "delivery_start": "2026-06-01T10:00:00+00:00",
    "delivery_end": "2026-06-01T11:00:00+00:00",
    "side": "buy",
    "order_type": "limit",
    "price": "45.5",
    "quantity_mw": "1.0",
    "filled_mw": "0",
    "status": "new",
    "active": True,
    "created_at": "2026-05-30T10:00:00+00:00",
    "updated_at": "2026-05-30T10:00:00+00:00",
}
FILL = {
    "seq": 1,
    "trade_id": "T1-B",
    "venue_order_id": "V1",
    "client_order_id": "c1",
    "market": "EU-SDAC",
    "product": "H",
    "delivery_start": "2026-06-01T10:00:00+00:00",
    "side": "buy",
    "price": "45.5",
    "quantity_mw": "1.0",
    "executed_at": "2026-05-30T10:00:00+00:00",
}
PERIOD = {
    "delivery_start": "2026-06-01T10:00:00+00:00",
    "delivery_end": "2026-06-01T11:00:00+00:00",
    "price": "45.5",
    "volume_mw": "3",
}
POINT = {**PERIOD, "market": "EU-SDAC", "product": "H", "source": "auction"}
PARSERS: dict[str, tuple[Callable[[Any], Any], dict[str, Any]]] = {
    "order": (wire.parse_order, ORDER),
    "fills": (wire.parse_fill_page, {"fills": [FILL], "next_after": 1}),
    "results": (
        wire.parse_results,
        {
            "market": "EU-SDAC",
            "product": "H",
            "day": "2026-06-01",
            "cleared": True,
            "periods": [PERIOD],
        },
    ),
    "market_data": (wire.parse_market_data, {"points": [POINT]}),
    "imbalance": (
        wire.parse_imbalance_prices,
        {
            "market": "EU-SDAC",
            "day": "2026-06-01",
            "period_min": 15,
            "scheme": "dual",
            "source": "synthetic",
            "periods": [
                {
                    "delivery_start": "2026-06-01T10:00:00+00:00",
                    "delivery_end": "2026-06-01T10:15:00+00:00",
                    "short_price": "61.2",
                    "long_price": "40.5",
                    "day_ahead_price": "45.5",
                    "system_imbalance_mw": None,
                }
            ],
        },
    ),
}


def _parse(parser: Callable[[Any], Any], body: Any) -> None:
    with contextlib.suppress(ValueError):
        parser(body)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_the_unmutated_answers_parse(name: str) -> None:
    parser, valid = PARSERS[name]
    assert parser(valid) is not None


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=150, deadline=None)
@given(body=JSON)
def test_any_json_parses_or_is_a_value_error(name: str, body: Any) -> None:
    _parse(PARSERS[name][0], body)


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=150, deadline=None)
@given(data=st.data(), value=JSON)
def test_one_mutated_field_parses_or_is_a_value_error(
    name: str, data: st.DataObject, value: Any
) -> None:
    parser, valid = PARSERS[name]
    body = dict(valid)
    if name == "fills":
        fill = dict(FILL)
        fill[data.draw(st.sampled_from(sorted(FILL)))] = value
        body = {"fills": [fill], "next_after": 1}
    else:
        body[data.draw(st.sampled_from(sorted(valid)))] = value
    _parse(parser, body)
