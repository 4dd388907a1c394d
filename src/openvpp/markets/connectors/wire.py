"""Parsing of the OpenVPP exchange's JSON into connector records (pure). Any missing or
invalid field raises ``ValueError``; callers decide what that means (an HTTP connector treats a
2xx it cannot read as an ambiguous outcome)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from openvpp.core.clock import ensure_utc
from openvpp.markets.connectors.protocol import (
    AmbiguousError,
    AuctionResults,
    ConnectorError,
    Fill,
    FillPage,
    ImbalancePeriod,
    ImbalanceResult,
    MarketDataPoint,
    OrderKind,
    OrderRequest,
    OrderSide,
    OrderSnapshot,
    OrderState,
    PeriodPrice,
    VenueRejectedError,
)

__all__ = [
    "cancel_batch_json",
    "order_batch_json",
    "order_request_json",
    "parse_batch_results",
    "parse_cancel_results",
    "parse_fill_page",
    "parse_imbalance_prices",
    "parse_market_data",
    "parse_order",
    "parse_results",
]


def _map(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a JSON object")
    return value


def _dec(d: Mapping[str, Any], key: str, optional: bool = False) -> Decimal:
    value = d.get(key)
    if value is None and optional:
        return None  # type: ignore[return-value]
    if not isinstance(value, str | int):
        raise ValueError(f"{key} must be a decimal string, got {value!r}")
    try:
        out = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{key} is not a decimal: {value!r}") from None
    if not out.is_finite():
        raise ValueError(f"{key} must be finite")
    return out


def _dt(d: Mapping[str, Any], key: str) -> datetime:
    value = d.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be an ISO 8601 string")
    return ensure_utc(datetime.fromisoformat(value))


def _bool(d: Mapping[str, Any], key: str) -> bool:
    value = d.get(key)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be a JSON boolean, got {value!r}")
    return value


def _str(d: Mapping[str, Any], key: str) -> str:
    value = d.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def order_request_json(r: OrderRequest) -> dict[str, Any]:
    """The POST body of a new order."""
    return {
        "client_order_id": r.client_order_id,
        "market": r.market,
        "product": r.product,
        "delivery_start": r.delivery_start.isoformat(),
        "side": r.side.value,
        "price": str(r.price),
        "quantity_mw": str(r.quantity_mw),
        "order_type": r.order_type.value,
        "clip_mw": None if r.clip_mw is None else str(r.clip_mw),
    }


def order_batch_json(requests: Sequence[OrderRequest]) -> dict[str, Any]:
    """The POST body of a batch of new orders."""
    return {"orders": [order_request_json(r) for r in requests]}


def cancel_batch_json(venue_order_ids: Sequence[str]) -> dict[str, Any]:
    """The POST body of a batch cancellation."""
    return {"venue_order_ids": list(venue_order_ids)}


def parse_cancel_results(
    body: Any, venue_order_ids: Sequence[str], venue: str = ""
) -> list[OrderSnapshot | ConnectorError]:
    """The answers to a batch cancellation of ``venue_order_ids``, read as
    :func:`parse_batch_results`; a snapshot of another order than the one asked about is
    ambiguous for that order."""
    out = parse_batch_results(body, len(venue_order_ids), venue)
    for i, (answer, asked) in enumerate(zip(out, venue_order_ids, strict=True)):
        if isinstance(answer, OrderSnapshot) and answer.venue_order_id != asked:
            out[i] = AmbiguousError(
                f"results[{i}]: the answer is about order {answer.venue_order_id!r}", venue=venue
            )
    return out


def parse_batch_results(
    body: Any, count: int, venue: str = ""
) -> list[OrderSnapshot | ConnectorError]:
    """The answers to a batch of ``count`` orders, in its order: a snapshot (status 200 or
    201), a :class:`VenueRejectedError` (a 4xx status with the venue's error, code and field)
    or an :class:`AmbiguousError` (an answer that cannot be read, or a 5xx). ``ValueError`` when
    the body is not a list of ``count`` answers (no answer can be paired with its order)."""
    results = _map(body, "batch answer").get("results")
    if not isinstance(results, list) or len(results) != count:
        raise ValueError(f"results must be a list of {count} answers")
    out: list[OrderSnapshot | ConnectorError] = []
    for i, item in enumerate(results):
        try:
            d = _map(item, f"results[{i}]")
            status = d.get("status")
            if not isinstance(status, int) or isinstance(status, bool):
                raise ValueError("status must be an integer")
            if status in (200, 201):
                out.append(parse_order(d.get("order")))
            elif 400 <= status < 500:
                field = d.get("field")
                out.append(
                    VenueRejectedError(
                        str(d.get("message") or f"venue refused ({status})"),
                        venue=venue,
                        status=status,
                        code=str(d.get("error") or "rejected"),
                        field=field if isinstance(field, str) else None,
                    )
                )
            else:
                raise ValueError(f"status {status}, outcome unknown")
        except (ValueError, TypeError, KeyError) as exc:
            out.append(AmbiguousError(f"results[{i}]: {exc}", venue=venue))
    return out


def parse_order(body: Any) -> OrderSnapshot:
    d = _map(body, "order")
    return OrderSnapshot(
        venue_order_id=_str(d, "venue_order_id"),
        client_order_id=_str(d, "client_order_id"),
        market=_str(d, "market"),
        product=_str(d, "product"),
        delivery_start=_dt(d, "delivery_start"),
        side=OrderSide(_str(d, "side")),
        order_type=OrderKind(_str(d, "order_type")),
        price=_dec(d, "price"),
        quantity_mw=_dec(d, "quantity_mw"),
        filled_mw=_dec(d, "filled_mw"),
        state=OrderState(_str(d, "status")),
        active=_bool(d, "active"),
        updated_at=_dt(d, "updated_at"),
    )


def _fill(d: Mapping[str, Any]) -> Fill:
    seq = d.get("seq")
    if not isinstance(seq, int):
        raise ValueError("seq must be an integer")
    return Fill(
        seq=seq,
        trade_id=_str(d, "trade_id"),
        venue_order_id=_str(d, "venue_order_id"),
        client_order_id=_str(d, "client_order_id"),
        market=_str(d, "market"),
        product=_str(d, "product"),
        delivery_start=_dt(d, "delivery_start"),
        side=OrderSide(_str(d, "side")),
        price=_dec(d, "price"),
        quantity_mw=_dec(d, "quantity_mw"),
        executed_at=_dt(d, "executed_at"),
    )


def parse_fill_page(body: Any) -> FillPage:
    d = _map(body, "fills page")
    fills = d.get("fills")
    nxt = d.get("next_after")
    if not isinstance(fills, list) or not isinstance(nxt, int):
        raise ValueError("fills page needs a fills list and an integer next_after")
    return FillPage(tuple(_fill(_map(f, "fill")) for f in fills), nxt)


def _period(d: Mapping[str, Any]) -> PeriodPrice:
    return PeriodPrice(
        _dt(d, "delivery_start"),
        _dt(d, "delivery_end"),
        _dec(d, "price", optional=True),
        _dec(d, "volume_mw"),
    )


def parse_results(body: Any) -> AuctionResults:
    d = _map(body, "results")
    periods = d.get("periods")
    if not isinstance(periods, list):
        raise ValueError("periods must be a list")
    return AuctionResults(
        market=_str(d, "market"),
        product=_str(d, "product"),
        day=date.fromisoformat(_str(d, "day")),
        cleared=bool(d.get("cleared")),
        periods=tuple(_period(_map(p, "period")) for p in periods),
    )


def parse_market_data(body: Any) -> list[MarketDataPoint]:
    points = _map(body, "market data").get("points")
    if not isinstance(points, list):
        raise ValueError("points must be a list")
    out = []
    for raw in points:
        p = _map(raw, "point")
        out.append(
            MarketDataPoint(
                market=_str(p, "market"),
                product=_str(p, "product"),
                delivery_start=_dt(p, "delivery_start"),
                delivery_end=_dt(p, "delivery_end"),
                price=_dec(p, "price", optional=True),
                volume_mw=_dec(p, "volume_mw"),
                source=_str(p, "source"),
            )
        )
    return out


def _imbalance_period(d: Mapping[str, Any]) -> ImbalancePeriod:
    return ImbalancePeriod(
        delivery_start=_dt(d, "delivery_start"),
        delivery_end=_dt(d, "delivery_end"),
        short_price=_dec(d, "short_price"),
        long_price=_dec(d, "long_price"),
        day_ahead_price=_dec(d, "day_ahead_price", optional=True),
        system_imbalance_mw=_dec(d, "system_imbalance_mw", optional=True),
    )


def parse_imbalance_prices(body: Any) -> ImbalanceResult:
    """The answer of ``GET /v1/imbalance-prices``: prices [currency/MWh] per settlement
    interval."""
    d = _map(body, "imbalance prices")
    periods = d.get("periods")
    period_min = d.get("period_min")
    if not isinstance(periods, list):
        raise ValueError("periods must be a list")
    if not isinstance(period_min, int) or isinstance(period_min, bool) or period_min < 1:
        raise ValueError("period_min must be a positive integer")
    return ImbalanceResult(
        market=_str(d, "market"),
        day=date.fromisoformat(_str(d, "day")),
        period_min=period_min,
        scheme=_str(d, "scheme"),
        source=_str(d, "source"),
        periods=tuple(_imbalance_period(_map(p, "period")) for p in periods),
    )
