"""Alerts, operation logs and performance metrics through the API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support import bearer, demo


def test_alert_lifecycle(client: TestClient) -> None:
    operator = bearer(client, demo("operator"))
    trader = bearer(client, demo("trader"))
    alert = client.post(
        "/api/vpp/alerts",
        headers=operator,
        json={
            "severity": "critical",
            "source": "dispatch",
            "title": "Battery 3 offline",
            "message": "no telemetry for 5 min",
        },
    ).json()
    assert alert["status"] == "open"
    acked = client.post(f"/api/vpp/alerts/{alert['id']}/acknowledge", headers=trader)
    assert acked.status_code == 200
    assert acked.json()["status"] == "acknowledged"
    again = client.post(f"/api/vpp/alerts/{alert['id']}/acknowledge", headers=trader)
    assert again.status_code == 409
    resolved = client.post(f"/api/vpp/alerts/{alert['id']}/resolve", headers=operator).json()
    assert resolved["status"] == "resolved"
    assert resolved["resolved_by"] is not None
    open_only = client.get("/api/vpp/alerts", headers=operator, params={"status": "open"}).json()
    assert alert["id"] not in [a["id"] for a in open_only]
    resolved_only = client.get(
        "/api/vpp/alerts", headers=operator, params={"status": "resolved"}
    ).json()
    assert alert["id"] in [a["id"] for a in resolved_only]


def test_operation_logs_record_and_filter(client: TestClient) -> None:
    operator = bearer(client, demo("operator"))
    created = client.post(
        "/api/vpp/operation-logs",
        headers=operator,
        json={
            "level": "warning",
            "category": "dispatch",
            "message": "manual override of PV-7",
            "details": {"setpoint_mw": -1.5},
        },
    )
    assert created.status_code == 201
    assert created.json()["request_id"] == created.headers["x-request-id"]
    listed = client.get(
        "/api/vpp/operation-logs", headers=operator, params={"category": "dispatch"}
    ).json()
    assert [e["message"] for e in listed] == ["manual override of PV-7"]
    assert listed[0]["details"] == {"setpoint_mw": -1.5}


def test_performance_metrics_batch_and_range(client: TestClient) -> None:
    operator = bearer(client, demo("operator"))
    samples = [
        {
            "name": "dispatch.latency",
            "value": float(i),
            "unit": "ms",
            "labels": {"vpp": "north"},
            "measured_at": f"2026-10-25T0{i}:00:00+02:00",
        }
        for i in range(5)
    ]
    recorded = client.post(
        "/api/vpp/performance-metrics", headers=operator, json={"samples": samples}
    )
    assert recorded.json() == {"recorded": 5}
    window = client.get(
        "/api/vpp/performance-metrics",
        headers=operator,
        params={
            "name": "dispatch.latency",
            "start": "2026-10-24T23:00:00Z",
            "end": "2026-10-25T01:00:00Z",
        },
    ).json()
    # 01:00+02:00 = 23:00Z and 02:00+02:00 = 00:00Z fall in [23:00Z, 01:00Z).
    assert [s["value"] for s in window] == [1.0, 2.0]
    assert window[0]["measured_at"] == "2026-10-24T23:00:00Z"
    inverted = client.get(
        "/api/vpp/performance-metrics",
        headers=operator,
        params={"start": "2026-10-25T01:00:00Z", "end": "2026-10-25T00:00:00Z"},
    )
    assert inverted.status_code == 422
    assert inverted.json()["error"]["field"] == "end"
