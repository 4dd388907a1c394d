"""SQLAlchemy Core repositories. They read and write within the caller's connection and never
commit: the unit of work owns the transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from openvpp.audit.chain import AuditContext, AuditEvent, AuditRecord, chain
from openvpp.identity.model import (
    ApiKey,
    AuthSession,
    Organization,
    RefreshToken,
    User,
    format_roles,
    parse_roles,
)
from openvpp.jobs.model import Job, JobStatus
from openvpp.ops.model import (
    Alert,
    AlertStatus,
    LogLevel,
    MetricSample,
    OperationLog,
    Severity,
)
from openvpp.resources.device_templates import DeviceTemplate
from openvpp.resources.model import Resource, ResourceStatus
from openvpp.resources.templates import ResourceType
from openvpp.store import tables as t
from openvpp.store.batching import in_chunks
from openvpp.store.driver_sql import DriverStatement
from openvpp.store.telemetry_repo import TelemetryRepo as TelemetryRepo
from openvpp.store.telemetry_repo import status_as_of


class _Repo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def _update_by_id(self, table: sa.Table, values: dict[str, Any]) -> None:
        """Write every column of ``values`` to the row whose ``id`` it names."""
        values = dict(values)
        row_id = values.pop("id")
        self._c.execute(table.update().where(table.c.id == row_id).values(**values))

    def _first(self, query: sa.Executable) -> RowMapping | None:
        """The first row of ``query`` as a mapping, or ``None``."""
        return self._c.execute(query).mappings().first()


class OrganizationRepo(_Repo):
    def add(self, org: Organization) -> None:
        self._c.execute(t.organizations.insert().values(**asdict(org)))

    def get(self, org_id: str, *, lock: bool = False) -> Organization | None:
        query = t.organizations.select().where(t.organizations.c.id == org_id)
        if lock:  # FOR NO KEY UPDATE on PostgreSQL: foreign keys to it are not blocked
            query = query.with_for_update(key_share=True)
        row = self._first(query)
        return Organization(**row) if row else None

    def get_by_slug(self, slug: str) -> Organization | None:
        row = self._first(t.organizations.select().where(t.organizations.c.slug == slug))
        return Organization(**row) if row else None

    def list(self) -> list[Organization]:
        rows = self._c.execute(t.organizations.select().order_by(t.organizations.c.slug))
        return [Organization(**r) for r in rows.mappings()]


_SESSIONS = t.auth_sessions
# Built once: a statement object memoizes its cache key, so the hot path skips regenerating it.
_PRINCIPAL_QUERY = (
    sa.select(
        t.users,
        _SESSIONS.c.id.label("s_id"),
        _SESSIONS.c.created_at.label("s_created_at"),
        _SESSIONS.c.revoked_at.label("s_revoked_at"),
        _SESSIONS.c.revoked_reason.label("s_revoked_reason"),
    )
    .join(_SESSIONS, _SESSIONS.c.user_id == t.users.c.id)
    .where(t.users.c.id == sa.bindparam("user_id"), _SESSIONS.c.id == sa.bindparam("session_id"))
)


def _user(row: RowMapping) -> User:
    data = dict(row)
    data["roles"] = parse_roles(data["roles"])
    return User(**data)


def _user_values(user: User) -> dict[str, Any]:
    data = asdict(user)
    data["roles"] = format_roles(user.roles)
    return data


class UserRepo(_Repo):
    def add(self, user: User) -> None:
        self._c.execute(t.users.insert().values(**_user_values(user)))

    def update(self, user: User) -> None:
        self._update_by_id(t.users, _user_values(user))

    def get(self, organization_id: str, user_id: str) -> User | None:
        row = self._first(
            t.users.select().where(
                t.users.c.id == user_id, t.users.c.organization_id == organization_id
            )
        )
        return _user(row) if row else None

    def get_for_update(self, user_id: str) -> User | None:
        row = self._first(t.users.select().where(t.users.c.id == user_id).with_for_update())
        return _user(row) if row else None

    def get_by_email(self, email: str) -> User | None:
        row = self._first(t.users.select().where(t.users.c.email == email))
        return _user(row) if row else None

    def list(self, organization_id: str, limit: int, offset: int) -> list[User]:
        rows = self._c.execute(
            t.users.select()
            .where(t.users.c.organization_id == organization_id)
            .order_by(t.users.c.email)
            .limit(limit)
            .offset(offset)
        ).mappings()
        return [_user(r) for r in rows]

    def count_active_admins(self, organization_id: str) -> int:
        rows = self._c.execute(
            sa.select(t.users.c.roles)
            .where(t.users.c.organization_id == organization_id, t.users.c.is_active.is_(True))
            # Locked: two admins demoting each other at once must not both see the other.
            .with_for_update()
        ).scalars()
        return sum(1 for roles in rows if "admin" in roles.split(","))

    def principal_row(self, user_id: str, session_id: str) -> tuple[User, AuthSession] | None:
        """The user and the session of an access token, in one query (every request runs it)."""
        row = (
            self._c.execute(_PRINCIPAL_QUERY, {"user_id": user_id, "session_id": session_id})
            .mappings()
            .first()
        )
        if row is None:
            return None
        data = dict(row)
        session = AuthSession(
            id=data.pop("s_id"),
            user_id=user_id,
            created_at=data.pop("s_created_at"),
            revoked_at=data.pop("s_revoked_at"),
            revoked_reason=data.pop("s_revoked_reason"),
        )
        data["roles"] = parse_roles(data["roles"])
        return User(**data), session


class SessionRepo(_Repo):
    def add(self, session: AuthSession) -> None:
        self._c.execute(t.auth_sessions.insert().values(**asdict(session)))

    def get(self, session_id: str) -> AuthSession | None:
        row = self._first(t.auth_sessions.select().where(t.auth_sessions.c.id == session_id))
        return AuthSession(**row) if row else None

    def revoke(self, session_id: str, at: datetime, reason: str) -> None:
        self._c.execute(
            t.auth_sessions.update()
            .where(t.auth_sessions.c.id == session_id, t.auth_sessions.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_reason=reason)
        )

    def revoke_for_user(self, user_id: str, at: datetime, reason: str) -> int:
        result = self._c.execute(
            t.auth_sessions.update()
            .where(t.auth_sessions.c.user_id == user_id, t.auth_sessions.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_reason=reason)
        )
        return result.rowcount


class RefreshTokenRepo(_Repo):
    def add(self, token: RefreshToken) -> None:
        self._c.execute(t.refresh_tokens.insert().values(**asdict(token)))

    def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        row = self._first(
            t.refresh_tokens.select().where(t.refresh_tokens.c.token_hash == token_hash)
        )
        return RefreshToken(**row) if row else None

    def mark_used(self, token_id: str, at: datetime) -> bool:
        result = self._c.execute(
            t.refresh_tokens.update()
            .where(t.refresh_tokens.c.id == token_id, t.refresh_tokens.c.used_at.is_(None))
            .values(used_at=at)
        )
        return result.rowcount == 1

    def delete_expired(self, before: datetime) -> int:
        return self._c.execute(
            t.refresh_tokens.delete().where(t.refresh_tokens.c.expires_at < before)
        ).rowcount


def _api_key(row: RowMapping) -> ApiKey:
    data = dict(row)
    data["roles"] = parse_roles(data["roles"])
    return ApiKey(**data)


class ApiKeyRepo(_Repo):
    def add(self, key: ApiKey) -> None:
        values = asdict(key)
        values["roles"] = format_roles(key.roles)
        self._c.execute(t.api_keys.insert().values(**values))

    def update(self, key: ApiKey) -> None:
        self._c.execute(
            t.api_keys.update()
            .where(t.api_keys.c.id == key.id)
            .values(
                name=key.name,
                roles=format_roles(key.roles),
                revoked_at=key.revoked_at,
                expires_at=key.expires_at,
            )
        )

    def get(self, key_id: str) -> ApiKey | None:
        row = self._first(t.api_keys.select().where(t.api_keys.c.id == key_id))
        return _api_key(row) if row else None

    def list(self, organization_id: str, limit: int, offset: int) -> list[ApiKey]:
        rows = self._c.execute(
            t.api_keys.select()
            .where(t.api_keys.c.organization_id == organization_id)
            .order_by(t.api_keys.c.created_at, t.api_keys.c.id)
            .limit(limit)
            .offset(offset)
        ).mappings()
        return [_api_key(r) for r in rows]


_AUDIT_COLUMNS = tuple(f.name for f in fields(AuditRecord))
"""A record's columns (a shallow row: ``asdict`` would deep-copy every field for nothing)."""
# Built once: every writing transaction with an audit row runs them.
_AUDIT_HEAD = (
    sa.select(t.audit_head.c.last_seq, t.audit_head.c.last_hash)
    .where(t.audit_head.c.id == 1)
    .with_for_update()
)
# driver SQL (store/driver_sql.py): written with every change, several times per order batch
_AUDIT_INSERT = DriverStatement(t.audit_log.insert(), _AUDIT_COLUMNS)
_AUDIT_HEAD_UPDATE = (
    t.audit_head.update()
    .where(t.audit_head.c.id == 1)
    .values(last_seq=sa.bindparam("b_seq"), last_hash=sa.bindparam("b_hash"))
)


class AuditRepo(_Repo):
    """Appends under a lock on the chain head, so concurrent writers never fork the chain."""

    def __init__(self, conn: Connection, key: bytes) -> None:
        super().__init__(conn)
        self._key = key

    def append(self, ctx: AuditContext, event: AuditEvent, at: datetime) -> AuditRecord:
        return self.append_many([(ctx, event)], at)[0]

    def append_many(
        self, entries: Sequence[tuple[AuditContext, AuditEvent]], at: datetime
    ) -> list[AuditRecord]:
        """Chain ``entries`` in order: one read of the locked head, one insert, one update."""
        if not entries:
            return []
        head = self._c.execute(_AUDIT_HEAD).first()
        if head is None:
            raise RuntimeError("audit chain head is missing; the audit trail was tampered with")
        seq, prev = head[0], head[1]
        records = []
        for ctx, event in entries:
            record = chain(self._key, seq, prev, at, ctx, event)
            records.append(record)
            seq, prev = record.seq, record.hash
        rows = [{name: getattr(r, name) for name in _AUDIT_COLUMNS} for r in records]
        _AUDIT_INSERT.execute(self._c, rows)
        self._c.execute(_AUDIT_HEAD_UPDATE, {"b_seq": seq, "b_hash": prev})
        return records

    def head(self) -> tuple[int, str] | None:
        row = self._c.execute(sa.select(t.audit_head.c.last_seq, t.audit_head.c.last_hash)).first()
        return (int(row[0]), str(row[1])) if row else None

    def iterate(self, batch: int = 1000) -> Iterator[AuditRecord]:
        last = 0
        while True:
            rows = (
                self._c.execute(
                    t.audit_log.select()
                    .where(t.audit_log.c.seq > last)
                    .order_by(t.audit_log.c.seq)
                    .limit(batch)
                )
                .mappings()
                .all()
            )
            if not rows:
                return
            for row in rows:
                yield AuditRecord(**row)
            last = rows[-1]["seq"]

    def list(
        self, organization_id: str, *, action: str | None, after_seq: int | None, limit: int
    ) -> list[AuditRecord]:
        query = t.audit_log.select().where(t.audit_log.c.organization_id == organization_id)
        if action:
            query = query.where(t.audit_log.c.action == action)
        if after_seq is not None:
            query = query.where(t.audit_log.c.seq < after_seq)
        rows = self._c.execute(query.order_by(t.audit_log.c.seq.desc()).limit(limit)).mappings()
        return [AuditRecord(**r) for r in rows]


def _alert(row: RowMapping) -> Alert:
    data = dict(row)
    data["severity"] = Severity(data["severity"])
    data["status"] = AlertStatus(data["status"])
    return Alert(**data)


class AlertRepo(_Repo):
    def unresolved_from(self, organization_id: str, source: str) -> list[Alert]:
        """Open or acknowledged alerts raised by ``source``, oldest first."""
        a = t.system_alerts
        rows = self._c.execute(
            a.select()
            .where(
                a.c.organization_id == organization_id,
                a.c.source == source,
                a.c.status != AlertStatus.RESOLVED.value,
            )
            .order_by(a.c.raised_at, a.c.id)
        ).mappings()
        return [_alert(r) for r in rows]

    def add(self, alert: Alert) -> None:
        self._c.execute(t.system_alerts.insert().values(**asdict(alert)))

    def update(self, alert: Alert) -> None:
        self._update_by_id(t.system_alerts, asdict(alert))

    def get(self, organization_id: str, alert_id: str, *, for_update: bool = False) -> Alert | None:
        query = t.system_alerts.select().where(
            t.system_alerts.c.id == alert_id,
            t.system_alerts.c.organization_id == organization_id,
        )
        row = self._first(query.with_for_update() if for_update else query)
        return _alert(row) if row else None

    def list(
        self, organization_id: str, status: AlertStatus | None, limit: int, offset: int
    ) -> list[Alert]:
        query = t.system_alerts.select().where(t.system_alerts.c.organization_id == organization_id)
        if status is not None:
            query = query.where(t.system_alerts.c.status == status.value)
        rows = self._c.execute(
            query.order_by(t.system_alerts.c.raised_at.desc(), t.system_alerts.c.id)
            .limit(limit)
            .offset(offset)
        ).mappings()
        return [_alert(r) for r in rows]


class OperationLogRepo(_Repo):
    def add(self, entry: OperationLog) -> None:
        self._c.execute(t.operation_logs.insert().values(**asdict(entry)))

    def list(
        self, organization_id: str, category: str | None, limit: int, offset: int
    ) -> list[OperationLog]:
        query = t.operation_logs.select().where(
            t.operation_logs.c.organization_id == organization_id
        )
        if category:
            query = query.where(t.operation_logs.c.category == category)
        rows = self._c.execute(
            query.order_by(t.operation_logs.c.occurred_at.desc(), t.operation_logs.c.id)
            .limit(limit)
            .offset(offset)
        ).mappings()
        return [OperationLog(**{**r, "level": LogLevel(r["level"])}) for r in rows]


class MetricRepo(_Repo):
    def add_many(self, samples: Sequence[MetricSample]) -> None:
        if samples:
            self._c.execute(t.performance_metrics.insert(), [asdict(s) for s in samples])

    def list(
        self,
        organization_id: str,
        name: str | None,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        offset: int,
    ) -> list[MetricSample]:
        m = t.performance_metrics
        query = m.select().where(m.c.organization_id == organization_id)
        if name:
            query = query.where(m.c.name == name)
        if start is not None:
            query = query.where(m.c.measured_at >= start)
        if end is not None:
            query = query.where(m.c.measured_at < end)
        rows = self._c.execute(
            query.order_by(m.c.measured_at, m.c.id).limit(limit).offset(offset)
        ).mappings()
        return [MetricSample(**r) for r in rows]


def _job(row: RowMapping) -> Job:
    return Job(**{**row, "status": JobStatus(row["status"])})


class JobRepo(_Repo):
    def add(self, job: Job) -> None:
        self._c.execute(t.jobs.insert().values(**asdict(job)))

    def update(self, job: Job) -> None:
        self._update_by_id(t.jobs, asdict(job))

    def get(self, job_id: str, *, for_update: bool = False) -> Job | None:
        query = t.jobs.select().where(t.jobs.c.id == job_id)
        row = self._first(query.with_for_update() if for_update else query)
        return _job(row) if row else None

    def list(
        self, organization_id: str | None, status: JobStatus | None, limit: int, offset: int
    ) -> list[Job]:
        query = t.jobs.select()
        if organization_id is not None:
            query = query.where(t.jobs.c.organization_id == organization_id)
        if status is not None:
            query = query.where(t.jobs.c.status == status.value)
        rows = self._c.execute(
            query.order_by(t.jobs.c.created_at.desc(), t.jobs.c.id).limit(limit).offset(offset)
        ).mappings()
        return [_job(r) for r in rows]

    def claim_next(self, worker_id: str, kinds: Sequence[str], at: datetime) -> Job | None:
        """Claim the oldest queued job by a conditional update: only one worker can win it."""
        candidates = (
            self._c.execute(
                sa.select(t.jobs.c.id)
                .where(t.jobs.c.status == JobStatus.QUEUED.value, t.jobs.c.kind.in_(kinds))
                .order_by(t.jobs.c.created_at, t.jobs.c.id)
                .limit(5)
            )
            .scalars()
            .all()
        )
        for job_id in candidates:
            won = self._c.execute(
                t.jobs.update()
                .where(t.jobs.c.id == job_id, t.jobs.c.status == JobStatus.QUEUED.value)
                .values(
                    status=JobStatus.RUNNING.value,
                    worker_id=worker_id,
                    started_at=at,
                    heartbeat_at=at,
                    attempts=t.jobs.c.attempts + 1,
                    finished_at=None,
                    error=None,
                )
            ).rowcount
            if won == 1:
                return self.get(job_id)
        return None

    def heartbeat(
        self, job_id: str, worker_id: str, at: datetime, progress: float | None, message: str | None
    ) -> bool:
        values: dict[str, Any] = {"heartbeat_at": at}
        if progress is not None:
            values["progress"] = progress
        if message is not None:
            values["message"] = message[:500]
        self._c.execute(
            t.jobs.update()
            .where(
                t.jobs.c.id == job_id,
                t.jobs.c.worker_id == worker_id,
                t.jobs.c.status == JobStatus.RUNNING.value,
            )
            .values(**values)
        )
        flag = self._c.execute(
            sa.select(t.jobs.c.cancel_requested).where(t.jobs.c.id == job_id)
        ).scalar_one_or_none()
        return bool(flag)

    def finish(
        self,
        job_id: str,
        worker_id: str,
        status: JobStatus,
        at: datetime,
        result: dict[str, Any] | None,
        error: str | None,
    ) -> bool:
        values: dict[str, Any] = {
            "status": status.value,
            "finished_at": at,
            "heartbeat_at": at,
            "result": result,
            "error": error,
        }
        if status is JobStatus.SUCCEEDED:
            values["progress"] = 1.0
        return (
            self._c.execute(
                t.jobs.update()
                .where(
                    t.jobs.c.id == job_id,
                    t.jobs.c.worker_id == worker_id,
                    t.jobs.c.status == JobStatus.RUNNING.value,
                )
                .values(**values)
            ).rowcount
            == 1
        )

    def interrupt_stale(self, stale_before: datetime, at: datetime) -> Sequence[str]:
        ids = (
            self._c.execute(
                sa.select(t.jobs.c.id).where(
                    t.jobs.c.status == JobStatus.RUNNING.value, t.jobs.c.heartbeat_at < stale_before
                )
            )
            .scalars()
            .all()
        )
        if ids:
            self._c.execute(
                t.jobs.update()
                .where(t.jobs.c.id.in_(ids), t.jobs.c.status == JobStatus.RUNNING.value)
                .values(
                    status=JobStatus.INTERRUPTED.value,
                    finished_at=at,
                    error="worker stopped while the job was running",
                )
            )
        return ids


def _resource(row: RowMapping) -> Resource:
    return Resource(
        **{
            **row,
            "resource_type": ResourceType(row["resource_type"]),
            "status": ResourceStatus(row["status"]),
        }
    )


class ResourceRepo(_Repo):
    def add(self, resource: Resource) -> None:
        self._c.execute(t.resources.insert().values(**asdict(resource)))

    def update(self, resource: Resource) -> None:
        self._update_by_id(t.resources, asdict(resource))

    def delete(self, resource_id: str) -> None:
        """Delete a resource and its telemetry. The caller holds the resource's row lock
        (``get(..., for_update=True)``), so no ingest can add readings in between."""
        self._c.execute(t.telemetry.delete().where(t.telemetry.c.resource_id == resource_id))
        self._c.execute(t.resources.delete().where(t.resources.c.id == resource_id))

    def get(
        self, organization_id: str, resource_id: str, *, for_update: bool = False
    ) -> Resource | None:
        query = t.resources.select().where(
            t.resources.c.id == resource_id, t.resources.c.organization_id == organization_id
        )
        row = self._first(query.with_for_update() if for_update else query)
        return _resource(row) if row else None

    def get_many(
        self, organization_id: str, resource_ids: Sequence[str], *, share_lock: bool = False
    ) -> list[Resource]:
        """The resources among ``resource_ids``; with ``share_lock`` they cannot be deleted
        until the transaction ends (FOR KEY SHARE; LOCK IN SHARE MODE on MariaDB). Asked in
        chunks (``store.batching``)."""
        r = t.resources
        found: list[Resource] = []
        for chunk in in_chunks(resource_ids):
            query = r.select().where(r.c.organization_id == organization_id, r.c.id.in_(chunk))
            if share_lock:
                query = query.with_for_update(read=True, key_share=True)
            found += [_resource(row) for row in self._c.execute(query).mappings()]
        return found

    def list(
        self,
        organization_id: str,
        resource_type: ResourceType | None,
        status: ResourceStatus | None,
        grid_node: str | None,
        limit: int,
        offset: int,
        *,
        stale_before: datetime | None = None,
    ) -> list[Resource]:
        r = t.resources
        query = r.select().where(r.c.organization_id == organization_id)
        if resource_type is not None:
            query = query.where(r.c.resource_type == resource_type.value)
        if status is not None and stale_before is not None:
            query = query.where(status_as_of(status, stale_before))
        elif status is not None:
            query = query.where(r.c.status == status.value)
        if grid_node is not None:
            query = query.where(r.c.grid_node == grid_node)
        rows = self._c.execute(query.order_by(r.c.name, r.c.id).limit(limit).offset(offset))
        return [_resource(row) for row in rows.mappings()]


def _device_template(row: RowMapping) -> DeviceTemplate:
    return DeviceTemplate(**{**row, "resource_type": ResourceType(row["resource_type"])})


class DeviceTemplateRepo(_Repo):
    def add(self, template: DeviceTemplate) -> None:
        values = asdict(template)
        values["resource_type"] = template.resource_type.value
        self._c.execute(t.device_templates.insert().values(**values))

    def get(self, organization_id: str, key: str, version: int) -> DeviceTemplate | None:
        d = t.device_templates
        row = self._first(
            d.select().where(
                d.c.organization_id == organization_id, d.c.key == key, d.c.version == version
            )
        )
        return _device_template(row) if row else None

    def get_by_id(self, organization_id: str, template_id: str) -> DeviceTemplate | None:
        d = t.device_templates
        row = self._first(
            d.select().where(d.c.organization_id == organization_id, d.c.id == template_id)
        )
        return _device_template(row) if row else None

    def list(
        self,
        organization_id: str,
        resource_type: ResourceType | None = None,
        key: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[DeviceTemplate]:
        d = t.device_templates
        query = d.select().where(d.c.organization_id == organization_id)
        if resource_type is not None:
            query = query.where(d.c.resource_type == resource_type.value)
        if key is not None:
            query = query.where(d.c.key == key)
        query = query.order_by(d.c.key, d.c.version)
        if limit is not None:
            query = query.limit(limit).offset(offset)
        return [_device_template(row) for row in self._c.execute(query).mappings()]
