"""Prometheus metrics of the HTTP layer (process-wide registry)."""

from __future__ import annotations

import gc

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "openvpp_http_requests_total",
    "HTTP requests by method, route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "openvpp_http_request_duration_seconds",
    "HTTP request latency by method and route",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
AUDIT_FAILURES = Counter(
    "openvpp_audit_write_failures_total", "Audit rows that could not be written"
)
ORDER_BATCH_SIZE = Histogram(
    "openvpp_order_batch_size",
    "Order submissions per group-committed batch (trading/batching.py)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
GC_FROZEN = Gauge(
    "openvpp_gc_frozen_objects",
    "Objects left out of the garbage collector's passes (api/heap.py): grows between sweeps",
)
GC_FROZEN.set_function(gc.get_freeze_count)
