"""Batching for ``openvpp telemetry import``: points in, ingest batches out, on one or more
writer threads."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable

from openvpp.audit.chain import AuditContext
from openvpp.resources.telemetry import IngestResult, TelemetryPoint
from openvpp.runtime import Runtime


def ingest_stream(
    rt: Runtime,
    organization_id: str,
    context: AuditContext,
    points: Iterable[TelemetryPoint],
    *,
    batch_size: int,
    writers: int,
    advance: Callable[[int], None],
) -> IngestResult:
    """Ingest ``points`` in batches of ``batch_size``, each one transaction with one audit row.

    With several ``writers`` every resource belongs to one writer thread (by its id), so each
    resource's points still arrive in file order; the writers' transactions run at once, which
    lets PostgreSQL use more than one core. ``advance`` is called with each batch's size."""
    totals = IngestResult()
    lock = threading.Lock()

    def ingest(batch: list[TelemetryPoint]) -> None:
        result = rt.telemetry.ingest_for(rt.uow(context), organization_id, batch)
        with lock:
            totals.merge(result)
        advance(len(batch))

    if writers == 1:
        batch: list[TelemetryPoint] = []
        for point in points:
            batch.append(point)
            if len(batch) >= batch_size:
                ingest(batch)
                batch = []
        if batch:
            ingest(batch)
        return totals

    inboxes: list[queue.Queue[list[TelemetryPoint] | None]] = [
        queue.Queue(maxsize=2) for _ in range(writers)
    ]
    errors: list[BaseException] = []

    def work(inbox: queue.Queue[list[TelemetryPoint] | None]) -> None:
        while (batch := inbox.get()) is not None:
            if not errors:  # after a failure, drain without ingesting
                try:
                    ingest(batch)
                except BaseException as exc:
                    errors.append(exc)

    threads = [threading.Thread(target=work, args=(inbox,), daemon=True) for inbox in inboxes]
    for thread in threads:
        thread.start()
    buffers: list[list[TelemetryPoint]] = [[] for _ in range(writers)]
    try:
        for point in points:
            i = hash(point.resource_id) % writers
            buffers[i].append(point)
            if len(buffers[i]) >= batch_size:
                inboxes[i].put(buffers[i])
                buffers[i] = []
            if errors:
                break
    finally:
        for inbox, rest in zip(inboxes, buffers, strict=True):
            if rest and not errors:
                inbox.put(rest)
            inbox.put(None)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return totals
