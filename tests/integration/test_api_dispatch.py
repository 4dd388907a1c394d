"""Dispatch and monitoring through the API on every backend: dispatching a VPP now (roles,
once per interval), the stored instructions with filters and paging, the live estimate, the
monitoring records after the interval, the ``dispatch.tick`` job, input checks naming the
field, and isolation between organizations."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openvpp.api.app import create_app
from openvpp.runtime import Runtime
from tests.integration.test_dispatch_loop import (
    GRACE,
    Q,
    award,
    instructions,
    make_site,
)
from tests.support import ShiftClock, bearer, demo, other_org_operator

D = "/api/vpp/dispatch"
M = "/api/vpp/monitoring"


def _iso(at: Any) -> str:
    return str(at.isoformat())


def test_dispatch_run_instructions_live_and_monitoring(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    site = make_site(seeded, clock)
    s = site.start
    trader, viewer = bearer(client, demo("trader")), bearer(client, demo("viewer"))
    operator = bearer(client, demo("operator"))

    nothing = client.post(f"{D}/run", headers=trader, json={"vpp_id": site.vpp})
    assert nothing.status_code == 200 and nothing.json()["setpoints"] == 0  # no award yet
    award(seeded, site, s, "1.5")
    assert client.post(f"{D}/run", headers=viewer, json={"vpp_id": site.vpp}).status_code == 403
    ran = client.post(f"{D}/run", headers=trader, json={"vpp_id": site.vpp})
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert body["setpoints"] == 3 and body["intervals"] == [_iso(s).replace("+00:00", "Z")]
    assert body["target_mw"][0] >= 1.5 and body["residual_mw"] == [0.0]
    again = client.post(f"{D}/run", headers=operator, json={"vpp_id": site.vpp})
    assert again.json()["setpoints"] == 0  # dispatched once per interval

    rows = client.get(f"{D}/instructions", headers=viewer, params={"vpp_id": site.vpp})
    assert rows.status_code == 200
    found = rows.json()
    assert len(found) == 3
    assert {r["resource_id"] for r in found} == {site.x, site.y, site.pv}
    assert {r["status"] for r in found} == {"accepted"}  # acknowledged by the devices
    for r in found:
        assert r["valid_from"] == _iso(s).replace("+00:00", "Z")
        assert r["valid_until"] == _iso(s + Q + GRACE).replace("+00:00", "Z")
    one = client.get(f"{D}/instructions", headers=viewer, params={"resource_id": site.x})
    assert [r["resource_id"] for r in one.json()] == [site.x]
    assert one.json()[0]["p_mw"] == 0.75
    paged = client.get(f"{D}/instructions", headers=viewer, params={"limit": 2, "offset": 2})
    assert len(paged.json()) == 1
    before = client.get(f"{D}/instructions", headers=viewer, params={"to": _iso(s)})
    assert before.json() == []
    inside = client.get(
        f"{D}/instructions", headers=viewer, params={"from": _iso(s), "to": _iso(s + Q)}
    )
    assert len(inside.json()) == 3

    live = client.get(f"{M}/live", headers=viewer, params={"vpp_id": site.vpp})
    assert live.status_code == 200 and live.json()["dispatched"] is False  # not started yet
    clock.move_to(s + timedelta(minutes=5))
    operator, viewer = bearer(client, demo("operator")), bearer(client, demo("viewer"))
    # the job kind a worker runs; here run once in-process
    job = client.post("/api/vpp/jobs", headers=operator, json={"kind": "dispatch.tick"})
    assert job.status_code == 202, job.text
    done = seeded.runner.run_once()
    assert done is not None and done.status.value == "succeeded", done
    assert done.result is not None and done.result["telemetry"] > 0
    live = client.get(f"{M}/live", headers=viewer, params={"vpp_id": site.vpp}).json()
    assert live["dispatched"] is True and abs(live["elapsed"] - 1 / 3) < 0.01
    assert live["scheduled_mwh"] == sum(r["p_mw"] for r in found) * 0.25
    assert {r["resource_id"] for r in live["resources"]} == {site.x, site.y, site.pv}
    x = next(r for r in live["resources"] if r["resource_id"] == site.x)
    assert 0.7 < x["current_mw"] < 0.8  # the battery follows its 0.75 MW

    clock.move_to(s + Q + timedelta(minutes=2))
    operator, viewer = bearer(client, demo("operator")), bearer(client, demo("viewer"))
    assert client.post("/api/vpp/jobs", headers=operator, json={"kind": "dispatch.tick"})
    assert seeded.runner.run_once() is not None
    records = client.get(M, headers=viewer, params={"vpp_id": site.vpp}).json()
    assert {r["resource_id"] for r in records} == {site.x, site.y, site.pv, None}
    total = next(r for r in records if r["resource_id"] is None)
    assert total["interval_start"] == _iso(s).replace("+00:00", "Z")
    assert total["scheduled_mw"] == sum(r["p_mw"] for r in found)
    assert total["coverage"] >= 0.8 and total["metered_mw"] is not None
    only_x = client.get(M, headers=viewer, params={"resource_id": site.x}).json()
    assert [r["resource_id"] for r in only_x] == [site.x]
    later = client.get(M, headers=viewer, params={"from": _iso(s + Q)}).json()
    assert later == []


def test_dispatch_input_checks_and_other_organizations(
    client: TestClient, seeded: Runtime, clock: ShiftClock
) -> None:
    site = make_site(seeded, clock)
    award(seeded, site, site.start, "1.0")
    trader, viewer = bearer(client, demo("trader")), bearer(client, demo("viewer"))
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("post", f"{D}/run", {"json": {}}, "body.vpp_id"),
        ("post", f"{D}/run", {"json": {"vpp_id": site.vpp, "force": True}}, "body.force"),
        ("get", f"{D}/instructions", {"params": {"from": "2026-12-01"}}, "query.from"),
        ("get", f"{D}/instructions", {"params": {"to": "1764547200"}}, "query.to"),
        ("get", M, {"params": {"from": "2026-12-01T10:00:00"}}, "query.from"),
        ("get", f"{M}/live", {}, "query.vpp_id"),
        ("get", M, {"params": {"from": _iso(site.start), "to": _iso(site.start)}}, "to"),
    ]
    for method, path, kw, field in cases:
        r = getattr(client, method)(path, headers=trader, **kw)
        assert r.status_code == 422, (path, kw, r.text)
        assert r.json()["error"]["field"] == field, (path, kw, r.json())
    unknown = client.post(f"{D}/run", headers=trader, json={"vpp_id": "no-such-vpp"})
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "vpp_id"

    assert client.post(f"{D}/run", headers=trader, json={"vpp_id": site.vpp}).json()["setpoints"]
    other = other_org_operator(client, seeded)
    stolen = client.post(f"{D}/run", headers=other, json={"vpp_id": site.vpp})
    assert stolen.status_code == 404 and stolen.json()["error"]["field"] == "vpp_id"
    for path, params in (
        (f"{D}/instructions", {"vpp_id": site.vpp}),
        (M, {"vpp_id": site.vpp}),
        (f"{M}/live", {"vpp_id": site.vpp}),
    ):
        r = client.get(path, headers=other, params=params)
        assert r.status_code == 404 and r.json()["error"]["field"] == "vpp_id", (path, r.text)
    assert client.get(f"{D}/instructions", headers=other).json() == []
    assert len(client.get(f"{D}/instructions", headers=viewer).json()) == 3


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"dispatch_interval_s": 0.2}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_api_server_runs_the_loop(seeded: Runtime, clock: ShiftClock) -> None:
    """With in-process jobs (``make run``) the lifespan's dispatch loop dispatches an award
    and stores the devices' telemetry without any request asking for it."""
    site = make_site(seeded, clock)
    award(seeded, site, site.start, "1.5")
    with TestClient(create_app(runtime=seeded, start_jobs=True), raise_server_exceptions=False):
        deadline = time.monotonic() + 20
        while not instructions(seeded, site):
            assert time.monotonic() < deadline, "the loop dispatched nothing"
            time.sleep(0.1)
        with seeded.uow(readonly=True) as uow:
            assert uow.telemetry.query(site.x, site.start - Q, None, 10)  # ingested by the loop
    assert {r.resource_id for r in instructions(seeded, site)} == {site.x, site.y, site.pv}
