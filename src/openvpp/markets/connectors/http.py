"""Connector to the OpenVPP HTTP exchange (``openvpp exchange serve``) with ``httpx``.

HTTP outcomes map onto the error classes of :mod:`~openvpp.markets.connectors.protocol`:

========================================================  ==========================
connection refused, DNS failure, connect/pool timeout      NotSentError
429 (``Retry-After`` honoured by the retry policy)         NotSentError
5xx with ``X-Request-Processed: false``                    NotSentError
read/write timeout, reset or close after sending           AmbiguousError
other 5xx, 3xx (redirects are never followed)              AmbiguousError
2xx with malformed JSON, or a body over the size limit     AmbiguousError
other 4xx (404 on a lookup is "not found", ``None``)       VenueRejectedError
========================================================  ==========================

The body is read in chunks and abandoned as soon as it exceeds ``max_response_bytes``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx

from openvpp.markets.connectors.protocol import (
    AmbiguousError,
    AuctionResults,
    ConnectorError,
    FillPage,
    ImbalanceResult,
    MarketDataPoint,
    NotSentError,
    OrderRequest,
    OrderSnapshot,
    VenueHealth,
    VenueRejectedError,
)
from openvpp.markets.connectors.wire import (
    cancel_batch_json,
    order_batch_json,
    order_request_json,
    parse_batch_results,
    parse_cancel_results,
    parse_fill_page,
    parse_imbalance_prices,
    parse_market_data,
    parse_order,
    parse_results,
)

__all__ = ["DEFAULT_BATCH_ORDERS", "HttpExchangeConnector"]

DEFAULT_BATCH_ORDERS = 50
"""Orders per batch request unless the connection's options say otherwise."""

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _utc_time(value: Any) -> datetime:
    """An ISO 8601 instant with an offset, in UTC; ``ValueError`` otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"time must be an ISO 8601 string, got {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"time {value!r} has no UTC offset")
    return parsed.astimezone(UTC)


class HttpExchangeConnector:
    """Async client of one HTTP exchange account.

    ``timeout_s`` [s] bounds each read/write, ``connect_timeout_s`` [s] the connection set-up,
    ``max_response_bytes`` [B] the body size, ``max_batch_orders`` the orders sent in one
    ``POST /v1/orders/batch`` (:meth:`submit_orders`) and cancelled in one ``POST
    /v1/orders/cancel`` (:meth:`cancel_orders`); 1 sends every order on its own.
    ``transport`` replaces the network (tests).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        name: str = "openvpp-exchange",
        timeout_s: float = 5.0,
        connect_timeout_s: float = 2.0,
        max_response_bytes: int = 1_048_576,
        max_batch_orders: int = DEFAULT_BATCH_ORDERS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.max_response_bytes = max_response_bytes
        self.max_batch_orders = max_batch_orders
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={"X-API-Key": api_key, "Accept": "application/json"},
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            follow_redirects=False,
            transport=transport,
        )

    @property
    def max_batch_cancels(self) -> int:
        """Orders cancelled per request: as many as are submitted per request."""
        return self.max_batch_orders

    async def _read(self, response: httpx.Response) -> bytes:
        limit = self.max_response_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise AmbiguousError(
                f"response of {declared} bytes exceeds the limit of {limit}", venue=self.name
            )
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > limit:
                raise AmbiguousError(
                    f"response exceeds the limit of {limit} bytes", venue=self.name
                )
        return bytes(body)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        not_found_ok: bool = False,
    ) -> Any:
        """The parsed JSON body of a 2xx answer, ``None`` for an accepted 404; else raises."""
        name = self.name
        try:
            async with self._client.stream(method, path, json=body, params=params) as response:
                status = response.status_code
                if status == 429:
                    retry = _retry_after(response.headers.get("retry-after"))
                    raise NotSentError("rate limited (429)", venue=name, retry_after=retry)
                if status >= 500:
                    if response.headers.get("x-request-processed", "").lower() == "false":
                        raise NotSentError(
                            f"venue unavailable ({status}), not processed", venue=name
                        )
                    raise AmbiguousError(f"venue error {status}, outcome unknown", venue=name)
                if 300 <= status < 400:
                    raise AmbiguousError(f"unexpected redirect ({status})", venue=name)
                raw = await self._read(response)
        except (NotSentError, AmbiguousError):
            raise
        except _NOT_SENT as exc:
            raise NotSentError(f"not sent: {type(exc).__name__}: {exc}", venue=name) from exc
        except httpx.TimeoutException as exc:
            raise AmbiguousError(
                f"timeout after sending: {type(exc).__name__}", venue=name
            ) from exc
        except httpx.HTTPError as exc:
            raise AmbiguousError(
                f"transport error after sending: {type(exc).__name__}: {exc}", venue=name
            ) from exc
        if status == 404 and not_found_ok:
            return None
        try:
            parsed = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            if status >= 400:
                raise VenueRejectedError(
                    f"venue refused ({status})", venue=name, status=status
                ) from None
            raise AmbiguousError("malformed JSON in a success response", venue=name) from None
        if status >= 400:
            info = parsed if isinstance(parsed, dict) else {}
            raise VenueRejectedError(
                str(info.get("message") or f"venue refused ({status})"),
                venue=name,
                status=status,
                code=str(info.get("error") or "rejected"),
                field=info.get("field") if isinstance(info.get("field"), str) else None,
            )
        return parsed

    def _parse(self, parser: Any, body: Any) -> Any:
        try:
            return parser(body)
        except (ValueError, TypeError, KeyError) as exc:
            raise AmbiguousError(f"malformed response: {exc}", venue=self.name) from None

    async def submit_order(self, request: OrderRequest) -> OrderSnapshot:
        body = await self._call("POST", "/v1/orders", body=order_request_json(request))
        snapshot: OrderSnapshot = self._parse(parse_order, body)
        return snapshot

    async def submit_orders(
        self, requests: Sequence[OrderRequest]
    ) -> list[OrderSnapshot | ConnectorError]:
        """Several new orders in one request; each answered on its own
        (:class:`~openvpp.markets.connectors.protocol.BatchSubmitter`)."""
        if not 0 < len(requests) <= self.max_batch_orders:
            raise ValueError(f"a batch takes 1 to {self.max_batch_orders} orders")
        body = await self._call("POST", "/v1/orders/batch", body=order_batch_json(requests))
        answers: list[OrderSnapshot | ConnectorError] = self._parse(
            lambda b: parse_batch_results(b, len(requests), self.name), body
        )
        return answers

    async def cancel_order(self, venue_order_id: str) -> OrderSnapshot:
        body = await self._call("DELETE", f"/v1/orders/{venue_order_id}")
        snapshot: OrderSnapshot = self._parse(parse_order, body)
        return snapshot

    async def cancel_orders(
        self, venue_order_ids: Sequence[str]
    ) -> list[OrderSnapshot | ConnectorError]:
        """Several cancellations in one request; each answered on its own
        (:class:`~openvpp.markets.connectors.protocol.BatchCanceller`)."""
        if not 0 < len(venue_order_ids) <= self.max_batch_cancels:
            raise ValueError(f"a batch cancels 1 to {self.max_batch_cancels} orders")
        body = await self._call(
            "POST", "/v1/orders/cancel", body=cancel_batch_json(venue_order_ids)
        )
        answers: list[OrderSnapshot | ConnectorError] = self._parse(
            lambda b: parse_cancel_results(b, venue_order_ids, self.name), body
        )
        return answers

    async def modify_order(
        self,
        venue_order_id: str,
        *,
        price: Decimal | None = None,
        quantity_mw: Decimal | None = None,
    ) -> OrderSnapshot:
        patch = {
            k: str(v) for k, v in (("price", price), ("quantity_mw", quantity_mw)) if v is not None
        }
        body = await self._call("PATCH", f"/v1/orders/{venue_order_id}", body=patch)
        snapshot: OrderSnapshot = self._parse(parse_order, body)
        return snapshot

    async def get_order(
        self, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderSnapshot | None:
        if (venue_order_id is None) == (client_order_id is None):
            raise ValueError("give exactly one of venue_order_id and client_order_id")
        if venue_order_id is not None:
            body = await self._call("GET", f"/v1/orders/{venue_order_id}", not_found_ok=True)
        else:
            params = {"client_order_id": str(client_order_id)}
            body = await self._call("GET", "/v1/orders", params=params, not_found_ok=True)
        if body is None:
            return None
        snapshot: OrderSnapshot = self._parse(parse_order, body)
        return snapshot

    async def fetch_fills(self, after: int = 0) -> FillPage:
        body = await self._call("GET", "/v1/fills", params={"after": str(after)})
        page: FillPage = self._parse(parse_fill_page, body)
        return page

    async def fetch_results(self, market: str, product: str, day: date) -> AuctionResults:
        params = {"market": market, "product": product, "day": day.isoformat()}
        body = await self._call("GET", "/v1/results", params=params)
        results: AuctionResults = self._parse(parse_results, body)
        return results

    async def run_auction(self, market: str, product: str, day: date) -> AuctionResults:
        """Ask the simulated exchange to clear a day (not part of the venue protocol)."""
        payload = {"market": market, "product": product, "day": day.isoformat()}
        body = await self._call("POST", "/v1/auctions/run", body=payload)
        results: AuctionResults = self._parse(parse_results, body)
        return results

    async def fetch_market_data(
        self, market: str, product: str, start: datetime, end: datetime
    ) -> list[MarketDataPoint]:
        params = {
            "market": market,
            "product": product,
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
        body = await self._call("GET", "/v1/market-data", params=params)
        points: list[MarketDataPoint] = self._parse(parse_market_data, body)
        return points

    async def fetch_imbalance_prices(self, market: str, day: date) -> ImbalanceResult:
        params = {"market": market, "day": day.isoformat()}
        body = await self._call("GET", "/v1/imbalance-prices", params=params)
        result: ImbalanceResult = self._parse(parse_imbalance_prices, body)
        return result

    async def health(self) -> VenueHealth:
        """The venue's health; a failure is reported as ``ok=False`` (never raised)."""
        started = time.perf_counter()
        try:
            body = await self._call("GET", "/v1/health")
        except (NotSentError, AmbiguousError, VenueRejectedError) as exc:
            elapsed = time.perf_counter() - started
            return VenueHealth(False, None, elapsed, exc.message, reachable=False)
        latency = time.perf_counter() - started
        venue_time = None
        if isinstance(body, dict) and body.get("time") is not None:
            try:
                venue_time = _utc_time(body["time"])
            except ValueError as exc:
                return VenueHealth(False, None, latency, f"malformed time in health answer: {exc}")
        ok = isinstance(body, dict) and body.get("status") == "ok"
        return VenueHealth(ok, venue_time, latency, "" if ok else "unexpected health answer")

    async def aclose(self) -> None:
        await self._client.aclose()
