"""Connectors to trading venues: one async protocol (:mod:`.protocol`), resilience (breaker,
retries, timeouts, health), safe submission with reconciliation, a registry and per-venue
implementations (in-process simulated exchange, OpenVPP HTTP exchange)."""

from __future__ import annotations

from openvpp.markets.connectors.fills import FillDeduplicator, poll_fills
from openvpp.markets.connectors.guarded import ResilientConnector
from openvpp.markets.connectors.orders import (
    ReconcilePolicy,
    SubmissionOutcome,
    submit_many_with_reconciliation,
    submit_with_reconciliation,
)
from openvpp.markets.connectors.parallel import VenueOutcome, fetch_all_market_data, gather_venues
from openvpp.markets.connectors.protocol import (
    AmbiguousError,
    AuctionResults,
    BatchSubmitter,
    ConnectorError,
    Fill,
    FillPage,
    ImbalancePeriod,
    ImbalanceResult,
    MarketDataPoint,
    NotSentError,
    OrderKind,
    OrderRequest,
    OrderSide,
    OrderSnapshot,
    OrderState,
    PeriodPrice,
    VenueConnector,
    VenueHealth,
    VenueRejectedError,
)
from openvpp.markets.connectors.resilience import (
    BreakerState,
    CircuitBreaker,
    HealthStatus,
    HealthTracker,
    RetryPolicy,
    StatusChange,
    retry_not_sent,
    with_timeout,
)

__all__ = [
    "AmbiguousError",
    "AuctionResults",
    "BatchSubmitter",
    "BreakerState",
    "CircuitBreaker",
    "ConnectorError",
    "Fill",
    "FillDeduplicator",
    "FillPage",
    "HealthStatus",
    "HealthTracker",
    "ImbalancePeriod",
    "ImbalanceResult",
    "MarketDataPoint",
    "NotSentError",
    "OrderKind",
    "OrderRequest",
    "OrderSide",
    "OrderSnapshot",
    "OrderState",
    "PeriodPrice",
    "ReconcilePolicy",
    "ResilientConnector",
    "RetryPolicy",
    "StatusChange",
    "SubmissionOutcome",
    "VenueConnector",
    "VenueHealth",
    "VenueOutcome",
    "VenueRejectedError",
    "fetch_all_market_data",
    "gather_venues",
    "poll_fills",
    "retry_not_sent",
    "submit_many_with_reconciliation",
    "submit_with_reconciliation",
    "with_timeout",
]
