"""Health checks shared by ``/readyz`` and ``openvpp health``."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from openvpp.runtime import Runtime
from openvpp.store.migrate import current_revision, head_revision


@dataclass
class HealthReport:
    ok: bool = True
    checks: dict[str, str] = field(default_factory=dict)

    def fail(self, name: str, reason: str) -> None:
        self.ok = False
        self.checks[name] = reason


def check_health(rt: Runtime) -> HealthReport:
    """Database reachable, migrations at head, Redis reachable when configured."""
    report = HealthReport()
    try:
        with rt.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        report.checks["database"] = f"ok ({rt.engine.dialect.name})"
    except SQLAlchemyError as exc:
        report.fail("database", f"unreachable: {type(exc).__name__}")
        return report
    current, head = current_revision(rt.engine), head_revision()
    if current != head:
        report.fail(
            "migrations",
            f"database at {current or 'no revision'}, code at {head}; run 'openvpp db migrate'",
        )
    else:
        report.checks["migrations"] = f"current ({head})"
    if rt.redis is not None:
        try:
            rt.redis.ping()
            report.checks["redis"] = "ok"
        except Exception as exc:
            report.fail("redis", f"unreachable: {type(exc).__name__}")
    return report
