"""Health, readiness, metrics, request ids, size limits, paging caps and error hygiene
(items 5 and 17)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from openvpp.api.app import create_app
from openvpp.runtime import Runtime, build_runtime
from openvpp.store.db import create_engine
from openvpp.store.migrate import downgrade, upgrade
from tests.support import audit_rows, bearer, demo, make_settings


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["migrations"].startswith("current")


def test_readyz_is_503_when_migrations_are_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    engine = create_engine(url)
    upgrade(engine)
    downgrade(engine, "base")
    engine.dispose()
    rt = build_runtime(make_settings(url, str(tmp_path)))
    try:
        with TestClient(create_app(runtime=rt, start_jobs=False)) as c:
            response = c.get("/readyz")
        assert response.status_code == 503
        assert "openvpp db migrate" in response.json()["checks"]["migrations"]
        assert response.headers["Retry-After"]
    finally:
        rt.close()


@pytest.fixture
def dead_database(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime whose database does not answer (nothing listens on the port)."""
    rt = build_runtime(
        make_settings("postgresql+psycopg://postgres@127.0.0.1:9/none", str(tmp_path))
    )
    try:
        yield rt
    finally:
        rt.close()


def test_database_down_gives_503_with_retry_after(dead_database: Runtime) -> None:
    with TestClient(
        create_app(runtime=dead_database, start_jobs=False), raise_server_exceptions=False
    ) as c:
        ready = c.get("/readyz")
        login = c.post("/api/vpp/auth/login", json={"email": "a@b.io", "password": "x" * 12})
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("unreachable")
    assert login.status_code == 503
    assert login.headers["Retry-After"] == "5"
    assert "Traceback" not in login.text
    assert "psycopg" not in login.text


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    headers = bearer(client, demo("viewer"))
    client.get("/api/vpp/alerts/some-id", headers=headers)
    text = client.get("/metrics").text
    assert 'openvpp_http_requests_total{method="GET",route="/api/vpp/alerts/{alert_id}"' in text
    assert "openvpp_http_request_duration_seconds_bucket" in text


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces"
    assert len(made.headers["x-request-id"]) == 32


def test_oversized_body_is_413_by_content_length(client: TestClient, seeded: Runtime) -> None:
    headers = bearer(client, demo("operator"))
    big = b'{"details": "' + b"x" * (seeded.settings.max_body_bytes + 10) + b'"}'
    response = client.post(
        "/api/vpp/operation-logs",
        content=big,
        headers={**headers, "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["field"] == "body"


def test_oversized_chunked_body_is_413(client: TestClient, seeded: Runtime) -> None:
    headers = bearer(client, demo("operator"))
    chunk = b"x" * 65536

    def body() -> Iterator[bytes]:
        for _ in range(seeded.settings.max_body_bytes // len(chunk) + 2):
            yield chunk

    response = client.post(
        "/api/vpp/operation-logs",
        content=body(),
        headers={**headers, "content-type": "application/json"},
    )
    assert response.status_code == 413


def test_page_size_is_capped(client: TestClient, seeded: Runtime) -> None:
    headers = bearer(client, demo("admin"))
    cap = seeded.settings.max_page_size
    assert client.get("/api/vpp/users", params={"limit": cap}, headers=headers).status_code == 200
    too_big = client.get("/api/vpp/users", params={"limit": cap + 1}, headers=headers)
    assert too_big.status_code == 422
    assert too_big.json()["error"]["field"] == "limit"
    audit = client.get("/api/vpp/audit", params={"limit": cap + 1}, headers=headers)
    assert audit.status_code == 422


def test_unexpected_errors_are_500_without_details(
    client: TestClient, seeded: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_: object, **__: object) -> None:
        raise RuntimeError("secret-internal-detail")

    monkeypatch.setattr(seeded.ops, "list_alerts", explode)
    response = client.get("/api/vpp/alerts", headers=bearer(client, demo("viewer")))
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert response.json()["error"]["request_id"] == response.headers["x-request-id"]
    assert "secret-internal-detail" not in response.text
    assert "Traceback" not in response.text


def test_unknown_route_and_method_use_the_error_format(client: TestClient) -> None:
    missing = client.get("/api/vpp/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = client.delete("/healthz")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_malformed_json_is_422_naming_the_body(client: TestClient) -> None:
    response = client.post(
        "/api/vpp/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"].startswith("body")


def test_timestamps_without_offset_are_refused(client: TestClient) -> None:
    headers = bearer(client, demo("operator"))
    response = client.post(
        "/api/vpp/performance-metrics",
        headers=headers,
        json={"samples": [{"name": "p", "value": 1.0, "measured_at": "2026-03-29T02:30:00"}]},
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body.samples.0.measured_at"


def test_nan_metric_values_are_refused(client: TestClient) -> None:
    headers = bearer(client, demo("operator"))
    response = client.post(
        "/api/vpp/performance-metrics",
        headers=headers,
        content=b'{"samples": [{"name": "p", "value": NaN}]}',
    )
    assert response.status_code == 422


def test_out_of_range_timestamp_is_422(client: TestClient) -> None:
    headers = bearer(client, demo("operator"))
    response = client.get(
        "/api/vpp/performance-metrics",
        headers=headers,
        params={"start": "0001-01-01T00:00:00+01:00"},
    )
    assert response.status_code == 422


def test_nul_characters_never_cause_a_500(client: TestClient) -> None:
    response = client.post(
        "/api/vpp/auth/login", json={"email": "a\u0000@b.io", "password": "whatever-123"}
    )
    assert response.status_code in (401, 422)
    headers = bearer(client, demo("admin"))
    assert client.get("/api/vpp/users/a%00b", headers=headers).status_code in (404, 422)


@pytest.mark.parametrize("settings_overrides", [{"api_rate_per_s": 0.01, "api_burst": 3}])
def test_a_caller_over_its_request_rate_gets_429_with_retry_after_audited_once(
    client: TestClient, seeded: Runtime
) -> None:
    viewer, operator = bearer(client, demo("viewer")), bearer(client, demo("operator"))
    assert [client.get("/api/vpp/alerts", headers=viewer).status_code for _ in range(3)] == [
        200
    ] * 3
    before = audit_rows(seeded)
    refused = [
        client.get("/api/vpp/alerts", headers=viewer),
        client.post("/api/vpp/operation-logs", headers=viewer, json={"details": "x"}),
        client.get("/api/vpp/auth/me", headers=viewer),
    ]
    assert [r.status_code for r in refused] == [429] * 3  # before the role check: not 403
    for response in refused:
        assert 90 <= int(response.headers["Retry-After"]) <= 100  # one request per 100 s
        assert response.json()["error"]["code"] == "rate_limited"
    assert audit_rows(seeded) == before + 1  # the episode, not each refusal
    # Another caller has its own budget.
    assert client.get("/api/vpp/alerts", headers=operator).status_code == 200
