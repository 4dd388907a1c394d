"""Prometheus metrics of the HTTP layer (process-wide registry)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Metric
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from openvpp.runtime import Runtime

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


class RuntimeCollector(Collector):
    """Figures the runtime keeps itself, read at each scrape: telemetry points by outcome
    (stored, duplicate, rejected by reason) and the MQTT device links' counters."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def collect(self) -> Iterator[Metric]:
        totals = self._rt.telemetry.totals()
        points = CounterMetricFamily(
            "openvpp_telemetry_points",
            "Telemetry points ingested (API, CSV, device gateways) by outcome and reason",
            labels=["outcome", "reason"],
        )
        points.add_metric(["accepted", ""], totals.accepted)
        points.add_metric(["duplicate", ""], totals.duplicates)
        for reason, n in sorted(totals.rejected.items()):
            points.add_metric(["rejected", reason], n)
        yield points

        stats, gateways, connected = self._rt.dispatch.mqtt_links()
        received = CounterMetricFamily(
            "openvpp_mqtt_received",
            "Well-formed device messages the MQTT gateways received, by kind (copies included)",
            labels=["kind"],
        )
        for kind, n in sorted(stats.received.items()):
            received.add_metric([kind], n)
        yield received
        dropped = CounterMetricFamily(
            "openvpp_mqtt_dropped",
            "Device messages and setpoints the MQTT gateways dropped, by reason",
            labels=["reason"],
        )
        for reason, n in (
            ("malformed", stats.malformed),
            ("duplicate_telemetry", stats.duplicate_telemetry),
            ("duplicate_ack", stats.duplicate_acks),
            ("setpoint_expired_unsent", stats.expired_unsent),
            ("setpoint_outbox_full", stats.dropped_unsent),
        ):
            dropped.add_metric([reason], n)
        yield dropped
        yield CounterMetricFamily(
            "openvpp_mqtt_setpoints_published",
            "Setpoints the broker acknowledged",
            value=stats.published,
        )
        yield CounterMetricFamily(
            "openvpp_mqtt_resend_requests",
            "Requests to devices to send telemetry again that the gateways never received",
            value=stats.resend_requests,
        )
        yield CounterMetricFamily(
            "openvpp_mqtt_telemetry_unrecovered",
            "Telemetry readings that never arrived and can no longer be asked for",
            value=stats.telemetry_unrecovered,
        )
        yield GaugeMetricFamily(
            "openvpp_mqtt_telemetry_missing",
            "Telemetry sequence numbers skipped over, not received yet, still recoverable",
            value=stats.telemetry_missing,
        )
        links = GaugeMetricFamily(
            "openvpp_mqtt_gateways", "MQTT gateways by broker connection state", labels=["state"]
        )
        links.add_metric(["connected"], connected)
        links.add_metric(["disconnected"], gateways - connected)
        yield links


def runtime_registry(rt: Runtime) -> CollectorRegistry:
    """A registry of ``rt``'s own figures (one per application; the module's metrics above
    live in the process-wide registry)."""
    registry = CollectorRegistry()
    registry.register(RuntimeCollector(rt))
    return registry
