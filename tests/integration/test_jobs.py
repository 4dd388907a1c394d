"""The durable job runner: progress, result, failure, cancel, retry, crash recovery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openvpp.api.app import create_app
from openvpp.jobs.model import JobStatus
from openvpp.jobs.registry import JobContext
from openvpp.jobs.runner import JobRunner
from openvpp.runtime import Runtime
from tests.support import SECRET, ShiftClock, bearer, demo

ANALYSTS = frozenset({"admin", "operator", "analyst"})


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def kinds(seeded: Runtime) -> dict[str, int]:
    """Test job kinds: a counter that fails on its first attempt, and a loop until cancelled."""
    calls = {"flaky": 0}

    def flaky(ctx: JobContext) -> dict[str, Any]:
        calls["flaky"] += 1
        ctx.progress(0.5, "half way")
        if calls["flaky"] == 1:
            raise ValueError("first attempt fails")
        return {"attempt": calls["flaky"], "n": ctx.params.get("n", 0)}

    def loop(ctx: JobContext) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        i = 0
        while time.monotonic() < deadline:
            i += 1
            ctx.progress(min(0.99, i / 1000), f"step {i}", force=True)
            time.sleep(0.01)
        return {"steps": i}

    registry = seeded.jobs.registry
    registry.register(
        "test.flaky", flaky, description="fails once", roles=ANALYSTS, check_params=lambda p: p
    )
    registry.register("test.loop", loop, description="runs until cancelled", roles=ANALYSTS)
    return calls


def job(client: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/api/vpp/jobs/{job_id}", headers=headers).json()
    return body


def test_job_runs_fails_and_is_retried(
    client: TestClient, seeded: Runtime, kinds: dict[str, int]
) -> None:
    analyst = bearer(client, demo("analyst"))
    submitted = client.post(
        "/api/vpp/jobs", headers=analyst, json={"kind": "test.flaky", "params": {"n": 3}}
    )
    assert submitted.status_code == 202
    job_id = submitted.json()["id"]
    assert submitted.json()["status"] == "queued"

    ran = seeded.runner.run_once()
    assert ran is not None and ran.status is JobStatus.FAILED
    failed = job(client, analyst, job_id)
    assert failed["error"] == "ValueError: first attempt fails"
    assert failed["progress"] == 0.5

    retried = client.post(f"/api/vpp/jobs/{job_id}/retry", headers=analyst).json()
    assert retried["status"] == "queued"
    seeded.runner.run_once()
    done = job(client, analyst, job_id)
    assert done["status"] == "succeeded"
    assert done["result"] == {"attempt": 2, "n": 3}
    assert done["attempts"] == 2
    assert done["progress"] == 1.0
    assert client.post(f"/api/vpp/jobs/{job_id}/retry", headers=analyst).status_code == 409
    durations = client.get(
        "/api/vpp/performance-metrics", headers=analyst, params={"name": "job.duration"}
    ).json()
    assert [d["labels"] for d in durations] == [
        {"kind": "test.flaky", "status": "failed"},
        {"kind": "test.flaky", "status": "succeeded"},
    ]
    assert all(d["value"] >= 0 and d["unit"] == "s" for d in durations)


def test_queued_job_is_cancelled_at_once(
    client: TestClient, kinds: dict[str, int], seeded: Runtime
) -> None:
    analyst = bearer(client, demo("analyst"))
    job_id = client.post("/api/vpp/jobs", headers=analyst, json={"kind": "test.loop"}).json()["id"]
    cancelled = client.post(f"/api/vpp/jobs/{job_id}/cancel", headers=analyst).json()
    assert cancelled["status"] == "cancelled"
    assert seeded.runner.run_once() is None
    assert client.post(f"/api/vpp/jobs/{job_id}/cancel", headers=analyst).status_code == 409


def test_running_job_stops_when_cancelled(
    client: TestClient, kinds: dict[str, int], seeded: Runtime
) -> None:
    analyst = bearer(client, demo("analyst"))
    job_id = client.post("/api/vpp/jobs", headers=analyst, json={"kind": "test.loop"}).json()["id"]
    seeded.runner.start()
    try:
        wait_for(lambda: job(client, analyst, job_id)["status"] == "running")
        wait_for(lambda: job(client, analyst, job_id)["progress"] > 0)
        assert client.post(f"/api/vpp/jobs/{job_id}/cancel", headers=analyst).status_code == 200
        wait_for(lambda: job(client, analyst, job_id)["status"] == "cancelled", timeout=10)
    finally:
        seeded.runner.stop()
    assert job(client, analyst, job_id)["finished_at"] is not None


def test_stopping_the_runner_interrupts_running_jobs(
    client: TestClient, kinds: dict[str, int], seeded: Runtime
) -> None:
    analyst = bearer(client, demo("analyst"))
    job_id = client.post("/api/vpp/jobs", headers=analyst, json={"kind": "test.loop"}).json()["id"]
    seeded.runner.start()
    try:
        wait_for(lambda: job(client, analyst, job_id)["progress"] > 0)
    finally:
        seeded.runner.stop()
    stopped = job(client, analyst, job_id)
    assert stopped["status"] == "interrupted"
    assert "shut down" in stopped["error"]
    assert client.post(f"/api/vpp/jobs/{job_id}/retry", headers=analyst).status_code == 200


def test_job_of_a_dead_worker_is_interrupted_and_can_be_retried(
    client: TestClient, seeded: Runtime, kinds: dict[str, int], clock: ShiftClock
) -> None:
    analyst = bearer(client, demo("analyst"))
    job_id = client.post("/api/vpp/jobs", headers=analyst, json={"kind": "test.flaky"}).json()["id"]
    kinds["flaky"] = 1  # the next attempt succeeds
    # A worker claims the job and dies without a word.
    with seeded.uow() as uow:
        claimed = uow.jobs.claim_next("dead-worker", ["test.flaky"], clock.now())
        uow.commit()
    assert claimed is not None and claimed.id == job_id
    assert seeded.runner.recover() == []  # heartbeat still fresh
    clock.advance(seeded.settings.jobs_stale_s + 1)
    assert list(seeded.runner.recover()) == [job_id]
    interrupted = job(client, analyst, job_id)
    assert interrupted["status"] == "interrupted"
    assert "worker stopped" in interrupted["error"]
    # The dead worker cannot report a result any more.
    with seeded.uow() as uow:
        assert not uow.jobs.finish(
            job_id, "dead-worker", JobStatus.SUCCEEDED, clock.now(), {}, None
        )
        uow.commit()
    assert client.post(f"/api/vpp/jobs/{job_id}/retry", headers=analyst).status_code == 200
    seeded.runner.run_once()
    assert job(client, analyst, job_id)["status"] == "succeeded"


def test_two_runners_never_run_the_same_job(seeded: Runtime, kinds: dict[str, int]) -> None:
    for _ in range(6):
        seeded.jobs.submit(seeded.uow(), None, "test.flaky", {})
    other = JobRunner(seeded.uow, seeded.jobs.registry, seeded.clock)
    claimed: list[str] = []
    with seeded.uow() as uow:
        for runner_id in ("a", "b", "a", "b", "a", "b", "a"):
            got = uow.jobs.claim_next(runner_id, ["test.flaky"], seeded.clock.now())
            if got:
                claimed.append(got.id)
        uow.commit()
    assert len(claimed) == len(set(claimed)) == 6
    assert other.run_once() is None


def test_in_process_runner_runs_submitted_jobs(seeded: Runtime) -> None:
    with TestClient(create_app(runtime=seeded, start_jobs=True)) as c:
        admin = bearer(c, demo("admin"))
        kinds = c.get("/api/vpp/jobs/kinds", headers=admin).json()
        assert {"audit.verify", "maintenance.prune"} <= {k["kind"] for k in kinds}
        job_id = c.post("/api/vpp/jobs", headers=admin, json={"kind": "audit.verify"}).json()["id"]
        wait_for(lambda: job(c, admin, job_id)["status"] == "succeeded")
        result = job(c, admin, job_id)["result"]
        assert result["ok"] is True
        assert result["checked"] >= 1
        listed = c.get("/api/vpp/jobs", headers=admin, params={"status": "succeeded"}).json()
        assert job_id in [j["id"] for j in listed]


def test_job_kinds_declare_who_may_submit(client: TestClient) -> None:
    analyst = bearer(client, demo("analyst"))
    response = client.post("/api/vpp/jobs", headers=analyst, json={"kind": "maintenance.prune"})
    assert response.status_code == 403
    unknown = client.post("/api/vpp/jobs", headers=analyst, json={"kind": "nope"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["field"] == "kind"
    params = client.post(
        "/api/vpp/jobs",
        headers=bearer(client, demo("admin")),
        json={"kind": "maintenance.prune", "params": {"x": 1}},
    )
    assert params.status_code == 422
    assert params.json()["error"]["field"] == "params"


def test_prune_job_deletes_expired_rows(seeded: Runtime, clock: ShiftClock) -> None:
    assert seeded.replay_guard.first_use("hmac:k", "n" * 16, 1)
    clock.advance(3)
    seeded.jobs.submit(seeded.uow(), None, "maintenance.prune", {})
    done = seeded.runner.run_once()
    assert done is not None and done.status is JobStatus.SUCCEEDED
    assert done.result is not None and done.result["replay_tokens"] == 1


CRASHING_WORKER = """
import sys, time
from openvpp.config import Settings
from openvpp.runtime import build_runtime

rt = build_runtime(Settings())

def slow(ctx):
    for i in range(2000):
        ctx.progress(i / 2000, f"step {i}", force=True)
        time.sleep(0.02)
    return {"steps": 2000}

rt.jobs.registry.register("test.slow", slow, description="slow", roles=frozenset({"admin"}))
rt.runner.start()
time.sleep(120)
"""


@pytest.mark.slow
def test_job_survives_a_killed_worker_process(seeded: Runtime, clock: ShiftClock) -> None:
    """SIGKILL the process running a job; the job is marked interrupted and can be retried."""
    seeded.jobs.registry.register(
        "test.slow", lambda ctx: {"steps": 0}, description="fast", roles=frozenset({"admin"})
    )
    job_id = seeded.jobs.submit(seeded.uow(), None, "test.slow", {}).id
    env = {
        **os.environ,
        "OPENVPP_DATABASE_URL": seeded.settings.effective_database_url,
        "OPENVPP_SECRET_KEY": SECRET,
        "OPENVPP_VAR_DIR": str(seeded.settings.var_dir),
        "OPENVPP_LOG_LEVEL": "WARNING",
    }
    worker = subprocess.Popen([sys.executable, "-c", CRASHING_WORKER], env=env)
    try:

        def progressed() -> bool:
            current = seeded.jobs.get(seeded.uow(readonly=True), None, job_id)
            return current.status is JobStatus.RUNNING and current.progress > 0

        wait_for(progressed, timeout=30)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    assert seeded.jobs.get(seeded.uow(readonly=True), None, job_id).status is JobStatus.RUNNING
    clock.advance(seeded.settings.jobs_stale_s + 5)
    assert job_id in seeded.runner.recover()
    assert seeded.jobs.get(seeded.uow(readonly=True), None, job_id).status is JobStatus.INTERRUPTED
    seeded.jobs.retry(seeded.uow(), None, job_id)
    done = seeded.runner.run_once()
    assert done is not None and done.id == job_id and done.status is JobStatus.SUCCEEDED
    assert done.attempts == 2
