"""Test helpers: a steerable clock, settings for tests, login and signing helpers."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from openvpp.config import Settings
from openvpp.identity.model import Role
from openvpp.identity.signatures import signed_headers
from openvpp.runtime import Runtime
from openvpp.store import tables
from openvpp.trading.orders import Order, State

SECRET = "test-master-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
DEMO_PASSWORD = "openvpp-demo"


class ShiftClock:
    """Real time plus an offset that tests can advance (tokens expire, windows pass)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def move_to(self, at: datetime) -> None:
        """Make ``now()`` read ``at`` (forwards or backwards)."""
        self.offset += at - self.now()


def make_settings(database_url: str, var_dir: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "var_dir": var_dir,
        "secret_key": SECRET,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8192,
        "argon2_parallelism": 1,
        "jobs_inprocess": False,
        "login_rate_per_minute": 1000,
        "log_level": "WARNING",
        "demo_password": DEMO_PASSWORD,
        # the order store's own process is tested where a test asks for it (an override)
        "order_store": "inline",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def login(client: TestClient, email: str, password: str = DEMO_PASSWORD) -> dict[str, Any]:
    response = client.post("/api/vpp/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(client: TestClient, email: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    return {"Authorization": f"Bearer {login(client, email, password)['access_token']}"}


def demo(role: str) -> str:
    return f"{role}@demo.openvpp.org"


def sign(
    key_id: str,
    secret: str,
    method: str,
    path: str,
    *,
    query: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    timestamp: int | None = None,
    nonce: str | None = None,
    clock: ShiftClock | None = None,
) -> dict[str, str]:
    now = clock.now().timestamp() if clock else time.time()
    return signed_headers(
        key_id=key_id,
        secret=secret,
        method=method,
        path=path,
        query=query or [],
        body=body,
        timestamp=int(now) if timestamp is None else timestamp,
        nonce=nonce or secrets.token_urlsafe(16),
    )


def other_org_operator(client: TestClient, rt: Runtime) -> dict[str, str]:
    """Headers of an operator in a second organization ("other")."""
    org = rt.identity.create_organization(rt.uow(), "Other", "other")
    rt.identity.create_user(
        rt.uow(),
        organization_id=org.id,
        email="ops@other.io",
        password=DEMO_PASSWORD,
        display_name="O",
        roles=frozenset({Role.OPERATOR}),
    )
    return bearer(client, "ops@other.io")


def row_count(rt: Runtime, table: sa.Table) -> int:
    """How many rows ``table`` holds."""
    with rt.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def audit_rows(rt: Runtime) -> int:
    """How many rows the audit trail holds."""
    return row_count(rt, tables.audit_log)


MetricKey = tuple[str, tuple[tuple[str, str], ...]]
"""A Prometheus sample's name and its labels, sorted."""


def telemetry_points_key(outcome: str, reason: str = "") -> MetricKey:
    """The key of ``openvpp_telemetry_points_total`` for one outcome and reason."""
    return ("openvpp_telemetry_points_total", (("outcome", outcome), ("reason", reason)))


def metric_samples(exposition: str) -> dict[MetricKey, float]:
    """The samples of a Prometheus text exposition (``/metrics``) by name and labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }


ORDER_T0 = datetime(2026, 12, 6, 12, tzinfo=UTC)


def an_order(**fields: Any) -> Order:
    """A new order as stored (``created``): 2 MW sold at 50 for the hour three hours after
    ``ORDER_T0``, any field given instead."""
    base: dict[str, Any] = {
        "id": "o",
        "organization_id": "org",
        "vpp_id": "v",
        "connection_id": "c",
        "client_order_id": "cid",
        "market": "EU-SIDC",
        "product": "H",
        "delivery_start": ORDER_T0 + timedelta(hours=3),
        "side": "sell",
        "order_type": "limit",
        "price": Decimal(50),
        "quantity": Decimal(2),
        "state": State.CREATED,
        "body_hash": "h",
        "created_at": ORDER_T0,
        "updated_at": ORDER_T0,
        "gate_closure": ORDER_T0 + timedelta(hours=2, minutes=55),
    }
    return Order(**{**base, **fields})
