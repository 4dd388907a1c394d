"""The durable job runner: claims queued jobs from the database and runs them in threads.

Jobs live in the database, so they survive restarts. A running job's worker writes a heartbeat;
a job whose heartbeat is older than ``stale_s`` (its process died) is marked ``interrupted`` and
can be retried. Claiming is a conditional update, so several processes can run workers safely.
"""

from __future__ import annotations

import os
import socket
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import structlog

from openvpp.core.clock import Clock
from openvpp.core.ids import new_id
from openvpp.jobs.model import Job, JobStatus
from openvpp.jobs.registry import JobCancelled, JobContext, JobRegistry
from openvpp.ops.model import MetricSample
from openvpp.ports import UnitOfWork

log = structlog.get_logger("openvpp.jobs")


class JobRunner:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        registry: JobRegistry,
        clock: Clock,
        *,
        workers: int = 2,
        poll_s: float = 0.5,
        stale_s: float = 30.0,
    ) -> None:
        self._uow = uow_factory
        self._registry = registry
        self._clock = clock
        self._workers = workers
        self._poll_s = poll_s
        self._stale_s = stale_s
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"
        self._stop = threading.Event()
        self._slots = threading.Semaphore(workers)
        self._pool: ThreadPoolExecutor | None = None
        self._threads: list[threading.Thread] = []
        self._running: dict[str, JobContext] = {}
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self.recover()
        self._stop.clear()
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="openvpp-job")
        for target, name in ((self._poll_loop, "poll"), (self._heartbeat_loop, "heartbeat")):
            thread = threading.Thread(target=target, name=f"openvpp-jobs-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming and ask running jobs to stop (they end ``interrupted``); wait up to
        ``timeout`` for the loops, then for the running jobs to return."""
        self._stop.set()
        with self._lock:
            for ctx in self._running.values():
                ctx.shutdown = ctx.cancelled = True
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def recover(self) -> Sequence[str]:
        """Mark jobs whose worker stopped heart-beating as interrupted."""
        now = self._clock.now()
        with self._uow() as uow:
            ids = uow.jobs.interrupt_stale(now - timedelta(seconds=self._stale_s), now)
            uow.commit()
        if ids:
            log.warning("jobs.interrupted", job_ids=ids)
        return ids

    # -- loops --------------------------------------------------------------------------------

    def _poll_loop(self) -> None:
        recover_every = max(1, int(self._stale_s / self._poll_s / 2))
        tick = 0
        while not self._stop.is_set():
            tick += 1
            try:
                if tick % recover_every == 0:
                    self.recover()
                if self._slots.acquire(timeout=self._poll_s):
                    try:
                        job = self._claim()
                    except Exception:
                        self._slots.release()
                        raise
                    if job is None:
                        self._slots.release()
                        self._stop.wait(self._poll_s)
                    else:
                        assert self._pool is not None
                        self._pool.submit(self._run_and_release, job)
            except Exception:  # the loop must survive a database outage
                log.exception("jobs.poll_failed")
                self._stop.wait(self._poll_s * 4)

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self._stale_s / 3):
            with self._lock:
                running = list(self._running.values())
            for ctx in running:
                try:
                    ctx.cancelled = self._beat(ctx.job_id, None, None) or ctx.cancelled
                except Exception:
                    log.exception("jobs.heartbeat_failed", job_id=ctx.job_id)

    # -- one job ------------------------------------------------------------------------------

    def run_once(self) -> Job | None:
        """Claim and run one job in this thread (CLI worker, tests). Returns it when done."""
        job = self._claim()
        if job is None:
            return None
        self._run(job)
        with self._uow() as uow:
            return uow.jobs.get(job.id)

    def _claim(self) -> Job | None:
        with self._uow() as uow:
            job = uow.jobs.claim_next(self.worker_id, self._registry.names(), self._clock.now())
            uow.commit()
        return job

    def _run_and_release(self, job: Job) -> None:
        try:
            self._run(job)
        finally:
            self._slots.release()

    def _beat(self, job_id: str, progress: float | None, message: str | None) -> bool:
        with self._uow() as uow:
            cancel = uow.jobs.heartbeat(
                job_id, self.worker_id, self._clock.now(), progress, message
            )
            uow.commit()
        return cancel

    def _run(self, job: Job) -> None:
        kind = self._registry.get(job.kind)
        ctx = JobContext(
            job_id=job.id,
            organization_id=job.organization_id,
            params=job.params,
            report=lambda p, m: self._beat(job.id, p, m),
        )
        with self._lock:
            self._running[job.id] = ctx
        log.info("jobs.started", job_id=job.id, kind=job.kind, attempt=job.attempts)
        status, result, error = JobStatus.FAILED, None, None
        try:
            ctx.progress(0.0, "started", force=True)
            result = kind.handler(ctx)
            status = JobStatus.SUCCEEDED
        except JobCancelled:
            if ctx.shutdown:  # our own stop, not the user's: the job can be retried
                status, error = JobStatus.INTERRUPTED, "worker shut down while the job was running"
            else:
                status, error = JobStatus.CANCELLED, "cancelled on request"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
            log.error("jobs.failed", job_id=job.id, kind=job.kind, traceback=traceback.format_exc())
        finally:
            with self._lock:
                self._running.pop(job.id, None)
        if status is not JobStatus.SUCCEEDED:  # keep the last progress a throttled report skipped
            self._beat(job.id, ctx.fraction, ctx.message)
        finished = self._clock.now()
        seconds = (finished - job.started_at).total_seconds() if job.started_at else 0.0
        with self._uow() as uow:
            if uow.jobs.finish(job.id, self.worker_id, status, finished, result, error):
                # The run time lands among the performance metrics, per kind and outcome.
                uow.metrics.add_many(
                    [
                        MetricSample(
                            id=new_id(),
                            organization_id=job.organization_id,
                            name="job.duration",
                            value=seconds,
                            unit="s",
                            measured_at=finished,
                            labels={"kind": job.kind, "status": status.value},
                        )
                    ]
                )
            uow.commit()
        log.info(
            "jobs.finished",
            job_id=job.id,
            kind=job.kind,
            status=status.value,
            seconds=round(seconds, 3),
        )
