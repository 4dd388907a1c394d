"""Fault injection for the HTTP simulated exchange (reliability tests of connectors).

A :class:`FaultSpec` names a mode, the endpoints it applies to (empty: all but admin), a
probability per request and an optional count after which it is spent. Modes act at three
points of a request:

* before processing: ``error_5xx_before`` (503 or ``status``, header
  ``X-Request-Processed: false``), ``rate_limit_429`` (429 with ``Retry-After``);
* after processing: ``delay_after_accept`` (sleep ``delay_s`` [s], then answer),
  ``error_5xx_after`` (500 or ``status``), ``drop_ack`` (abort the connection without a
  response), ``malformed`` (truncated JSON), ``huge_response`` (``size_bytes`` of JSON);
* in the fills feed: ``duplicate_fills`` (every fill twice), ``out_of_order_fills`` (reversed).

Draws use a seeded ``random.Random``; with ``probability=1.0`` and a ``count`` a test is fully
deterministic.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

__all__ = [
    "AFTER_MODES",
    "BEFORE_MODES",
    "ENDPOINTS",
    "FEED_MODES",
    "FaultInjector",
    "FaultMode",
    "FaultSpec",
    "parse_fault",
]


class FaultMode(StrEnum):
    DELAY_AFTER_ACCEPT = "delay_after_accept"
    ERROR_5XX_BEFORE = "error_5xx_before"
    ERROR_5XX_AFTER = "error_5xx_after"
    RATE_LIMIT_429 = "rate_limit_429"
    DROP_ACK = "drop_ack"
    DUPLICATE_FILLS = "duplicate_fills"
    OUT_OF_ORDER_FILLS = "out_of_order_fills"
    MALFORMED = "malformed"
    HUGE_RESPONSE = "huge_response"


BEFORE_MODES = frozenset({FaultMode.ERROR_5XX_BEFORE, FaultMode.RATE_LIMIT_429})
AFTER_MODES = frozenset(
    {
        FaultMode.DELAY_AFTER_ACCEPT,
        FaultMode.ERROR_5XX_AFTER,
        FaultMode.DROP_ACK,
        FaultMode.MALFORMED,
        FaultMode.HUGE_RESPONSE,
    }
)
FEED_MODES = frozenset({FaultMode.DUPLICATE_FILLS, FaultMode.OUT_OF_ORDER_FILLS})
ENDPOINTS = (
    "submit",
    "submit_batch",
    "get_order",
    "find_order",
    "cancel",
    "cancel_batch",
    "modify",
    "fills",
    "results",
    "market_data",
    "run_auction",
    "imbalance_prices",
    "health",
)


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One fault rule. ``count`` ``None``: unlimited; ``delay_s`` [s]; ``retry_after_s`` [s];
    ``size_bytes`` [B]; ``status`` overrides the 5xx status code."""

    mode: FaultMode
    endpoints: tuple[str, ...] = ()
    probability: float = 1.0
    count: int | None = None
    status: int | None = None
    delay_s: float = 5.0
    retry_after_s: int = 1
    size_bytes: int = 8_000_000
    hits: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", FaultMode(self.mode))
        object.__setattr__(self, "endpoints", tuple(self.endpoints))
        unknown = [e for e in self.endpoints if e not in ENDPOINTS]
        if unknown:
            raise ValueError(f"endpoints: unknown {unknown}; known: {list(ENDPOINTS)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {self.probability}")
        if self.count is not None and self.count < 1:
            raise ValueError(f"count must be at least 1, got {self.count}")
        if self.status is not None and not 500 <= self.status <= 599:
            raise ValueError(f"status must be a 5xx code, got {self.status}")
        if not 0 <= self.delay_s <= 600 or not 0 <= self.retry_after_s <= 3600:
            raise ValueError("delay_s must be in [0, 600] and retry_after_s in [0, 3600]")
        if not 1 <= self.size_bytes <= 64_000_000:
            raise ValueError(f"size_bytes must be in [1, 64000000], got {self.size_bytes}")

    def applies_to(self, endpoint: str) -> bool:
        return not self.endpoints or endpoint in self.endpoints

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``hits``: how often it fired)."""
        out = asdict(self)
        out["mode"] = self.mode.value
        out["endpoints"] = list(self.endpoints)
        return out


def parse_fault(text: str) -> FaultSpec:
    """Parse the CLI form ``MODE[,key=value...]``; endpoints are joined by ``+``, e.g.
    ``error_5xx_after,endpoints=submit+cancel,count=3,probability=0.5``."""
    mode, *pairs = [p.strip() for p in text.split(",") if p.strip()]
    kwargs: dict[str, Any] = {}
    converters: dict[str, Any] = {
        "endpoints": lambda v: tuple(v.split("+")),
        "probability": float,
        "count": int,
        "status": int,
        "delay_s": float,
        "retry_after_s": int,
        "size_bytes": int,
    }
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in converters:
            raise ValueError(f"fault option {key!r} unknown; known: {sorted(converters)}")
        kwargs[key] = converters[key](value)
    try:
        return FaultSpec(FaultMode(mode), **kwargs)
    except ValueError as exc:
        raise ValueError(f"fault {text!r}: {exc}") from None


class FaultInjector:
    """The active fault rules (thread-safe). ``pick`` consumes one count of the first rule
    that matches the endpoint and phase and wins its probability draw."""

    def __init__(self, specs: Iterable[FaultSpec] = (), *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)  # noqa: S311  (simulation, not security)
        self._specs: list[FaultSpec] = list(specs)

    def set(self, specs: Iterable[FaultSpec], *, replace_all: bool = True) -> None:
        with self._lock:
            self._specs = [*([] if replace_all else self._specs), *specs]

    def clear(self) -> None:
        with self._lock:
            self._specs = []

    def specs(self) -> list[FaultSpec]:
        with self._lock:
            return list(self._specs)

    def pick(self, endpoint: str, modes: frozenset[FaultMode]) -> FaultSpec | None:
        with self._lock:
            for i, spec in enumerate(self._specs):
                if spec.mode not in modes or not spec.applies_to(endpoint):
                    continue
                if spec.count is not None and spec.hits >= spec.count:
                    continue
                if spec.probability < 1.0 and self._random.random() >= spec.probability:
                    continue
                self._specs[i] = replace(spec, hits=spec.hits + 1)
                return spec
            return None
