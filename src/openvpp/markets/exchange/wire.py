"""JSON forms of the exchange records: ``Decimal`` as strings, instants as ISO 8601 [UTC]."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from openvpp.markets.exchange.model import (
    AuctionResult,
    ExchangeOrder,
    Fill,
    FillPage,
    ImbalanceResult,
    MarketDataPoint,
    PeriodResult,
)

__all__ = [
    "auction_json",
    "fill_page_json",
    "imbalance_json",
    "market_data_json",
    "order_json",
]


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def order_json(o: ExchangeOrder) -> dict[str, Any]:
    return {
        "venue_order_id": o.venue_order_id,
        "client_order_id": o.client_order_id,
        "market": o.market,
        "product": o.product,
        "delivery_start": o.delivery_start.isoformat(),
        "delivery_end": o.delivery_end.isoformat(),
        "side": o.side.value,
        "order_type": o.order_type.value,
        "price": str(o.price),
        "quantity_mw": str(o.quantity_mw),
        "clip_mw": _dec(o.clip_mw),
        "filled_mw": str(o.filled_mw),
        "status": o.status.value,
        "active": o.active,
        "created_at": o.created_at.isoformat(),
        "updated_at": o.updated_at.isoformat(),
    }


def fill_json(f: Fill) -> dict[str, Any]:
    return {
        "seq": f.seq,
        "trade_id": f.trade_id,
        "venue_order_id": f.venue_order_id,
        "client_order_id": f.client_order_id,
        "market": f.market,
        "product": f.product,
        "delivery_start": f.delivery_start.isoformat(),
        "side": f.side.value,
        "price": str(f.price),
        "quantity_mw": str(f.quantity_mw),
        "executed_at": f.executed_at.isoformat(),
    }


def fill_page_json(page: FillPage) -> dict[str, Any]:
    return {"fills": [fill_json(f) for f in page.fills], "next_after": page.next_after}


def auction_json(r: AuctionResult) -> dict[str, Any]:
    return {
        "market": r.market,
        "product": r.product,
        "day": r.day.isoformat(),
        "cleared": r.cleared,
        "cleared_at": None if r.cleared_at is None else r.cleared_at.isoformat(),
        "periods": [_period_json(p) for p in r.periods],
    }


def _period_json(p: PeriodResult) -> dict[str, Any]:
    """One period; ``historical_price`` and ``price_impact`` only for replayed auctions (the
    format of auctions cleared from orders is unchanged)."""
    out: dict[str, Any] = {
        "delivery_start": p.delivery_start.isoformat(),
        "delivery_end": p.delivery_end.isoformat(),
        "price": _dec(p.price),
        "volume_mw": str(p.volume_mw),
    }
    if p.historical_price is not None:
        out["historical_price"] = str(p.historical_price)
    if p.price_impact is not None:
        out["price_impact"] = str(p.price_impact)
    return out


def imbalance_json(r: ImbalanceResult) -> dict[str, Any]:
    """Imbalance prices of a day; prices [currency/MWh] and system imbalance [MW] as strings."""
    return {
        "market": r.market,
        "day": r.day.isoformat(),
        "period_min": r.period_min,
        "scheme": r.scheme,
        "source": r.source,
        "reference": r.reference,
        "periods": [
            {
                "delivery_start": p.delivery_start.isoformat(),
                "delivery_end": p.delivery_end.isoformat(),
                "short_price": str(p.short_price),
                "long_price": str(p.long_price),
                "day_ahead_price": _dec(p.day_ahead_price),
                "system_imbalance_mw": _dec(p.system_imbalance_mw),
            }
            for p in r.periods
        ],
    }


def market_data_json(points: list[MarketDataPoint]) -> dict[str, Any]:
    return {
        "points": [
            {
                "market": p.market,
                "product": p.product,
                "delivery_start": p.delivery_start.isoformat(),
                "delivery_end": p.delivery_end.isoformat(),
                "price": _dec(p.price),
                "volume_mw": str(p.volume_mw),
                "source": p.source,
            }
            for p in points
        ]
    }
