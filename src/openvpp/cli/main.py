"""``openvpp``: database, demo data, server, health, audit, jobs, users."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from openvpp.audit.chain import AuditContext
from openvpp.audit.service import verify_chain
from openvpp.config import load_settings
from openvpp.core.errors import DomainError
from openvpp.health import check_health
from openvpp.identity.model import Role
from openvpp.jobs.model import JobStatus
from openvpp.runtime import Runtime, build_runtime
from openvpp.seed import DEMO_DOMAIN, seed_demo
from openvpp.store import migrate

app = typer.Typer(
    help="OpenVPP: virtual power plant operations and trading center.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema and demo data.", no_args_is_help=True)
audit_app = typer.Typer(help="Audit trail.", no_args_is_help=True)
jobs_app = typer.Typer(help="Durable jobs.", no_args_is_help=True)
users_app = typer.Typer(help="Organizations and users.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(jobs_app, name="jobs")
app.add_typer(users_app, name="users")

out = Console()
err = Console(stderr=True)
CLI_CONTEXT = AuditContext(actor_type="system", actor_id="cli")


def _runtime() -> Runtime:
    return build_runtime(load_settings())


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@db_app.command("migrate")
def db_migrate(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    rt = _runtime()
    try:
        migrate.upgrade(rt.engine, revision)
        out.print(
            f"database at revision {migrate.current_revision(rt.engine)} ({rt.engine.dialect.name})"
        )
    finally:
        rt.close()


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="target, e.g. base")]) -> None:
    """Revert migrations down to REVISION."""
    rt = _runtime()
    try:
        migrate.downgrade(rt.engine, revision)
        out.print(f"database at revision {migrate.current_revision(rt.engine) or 'base'}")
    finally:
        rt.close()


@db_app.command("seed")
def db_seed() -> None:
    """Create the demo organization with one user per role (idempotent)."""
    rt = _runtime()
    try:
        result = seed_demo(rt)
        verb = "created" if result.created else "already present"
        out.print(f"demo organization {verb}; users: {', '.join(result.users)}")
        if result.created:
            out.print("password: the value of OPENVPP_DEMO_PASSWORD (default 'openvpp-demo')")
    finally:
        rt.close()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
) -> None:
    """Serve the API (docs at /docs)."""
    import uvicorn

    settings = load_settings()
    host, port = host or settings.host, port or settings.port
    out.print(f"OpenVPP API on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    uvicorn.run(
        "openvpp.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers or settings.workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,
    )


@app.command()
def health() -> None:
    """Check the database and migrations; exit 1 with the reason when unhealthy."""
    rt = _runtime()
    try:
        report = check_health(rt)
    finally:
        rt.close()
    for name, state in report.checks.items():
        (out if report.ok else err).print(f"{name}: {state}")
    if not report.ok:
        raise _fail("unhealthy")
    out.print("healthy")


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the hash chain; exit 1 naming the first edited, inserted or deleted row."""
    rt = _runtime()
    try:
        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            TextColumn("{task.completed} rows"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("verify", total=None)
            result = verify_chain(
                rt.uow(readonly=True),
                rt.audit_key,
                progress=lambda n: bar.update(task, completed=n),
            )
    finally:
        rt.close()
    if not result.ok:
        raise _fail(
            f"audit chain broken at row {result.first_bad_seq}: {result.problem} "
            f"({result.checked} rows verified before it)"
        )
    out.print(f"audit chain intact: {result.checked} rows")


@jobs_app.command("list")
def jobs_list(
    status: Annotated[JobStatus | None, typer.Option(help="only this status")] = None,
    limit: int = 50,
) -> None:
    """List jobs of every organization, newest first."""
    rt = _runtime()
    try:
        jobs = rt.jobs.list(rt.uow(readonly=True), None, status, limit, 0)
    finally:
        rt.close()
    table = Table("id", "kind", "status", "progress", "attempts", "created", "error")
    for j in jobs:
        table.add_row(
            j.id,
            j.kind,
            j.status.value,
            f"{j.progress:.0%}",
            str(j.attempts),
            j.created_at.isoformat(timespec="seconds"),
            (j.error or "")[:60],
        )
    out.print(table)


@jobs_app.command("submit")
def jobs_submit(kind: str, params: str = "{}") -> None:
    """Queue a job of KIND with JSON PARAMS."""
    rt = _runtime()
    try:
        parsed = json.loads(params)
        if not isinstance(parsed, dict):
            raise _fail("--params must be a JSON object")
        job = rt.jobs.submit(rt.uow(CLI_CONTEXT), None, kind, parsed)
        out.print(job.id)
    except json.JSONDecodeError as exc:
        raise _fail(f"--params is not valid JSON: {exc.msg}") from exc
    except DomainError as exc:
        raise _fail(exc.message) from exc
    finally:
        rt.close()


@jobs_app.command("worker")
def jobs_worker(
    once: Annotated[bool, typer.Option(help="run queued jobs, then exit")] = False,
) -> None:
    """Run jobs in this process (an extra worker beside the API's in-process runner)."""
    rt = _runtime()
    try:
        rt.runner.recover()
        if once:
            while (job := rt.runner.run_once()) is not None:
                out.print(f"{job.id} {job.kind}: {job.status.value}")
            return
        rt.runner.start()
        out.print(f"worker {rt.runner.worker_id} running; Ctrl-C to stop")
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        rt.runner.stop()
    finally:
        rt.close()


@users_app.command("create-org")
def create_org(name: str, slug: str) -> None:
    """Create an organization (tenant)."""
    rt = _runtime()
    try:
        org = rt.identity.create_organization(rt.uow(CLI_CONTEXT), name, slug)
        out.print(org.id)
    except DomainError as exc:
        raise _fail(exc.message) from exc
    finally:
        rt.close()


@users_app.command("create")
def create_user(
    org: Annotated[str, typer.Option(help="organization slug")],
    email: Annotated[str, typer.Option()],
    role: Annotated[list[Role], typer.Option(help="repeat for several roles")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    name: Annotated[str, typer.Option(help="display name")] = "",
) -> None:
    """Create a user in an organization."""
    rt = _runtime()
    try:
        organization = rt.identity.organization_by_slug(rt.uow(readonly=True), org)
        user = rt.identity.create_user(
            rt.uow(CLI_CONTEXT),
            organization_id=organization.id,
            email=email,
            password=password,
            display_name=name or email,
            roles=frozenset(role),
        )
        out.print(user.id)
    except DomainError as exc:
        raise _fail(exc.message) from exc
    finally:
        rt.close()


@app.command()
def version() -> None:
    """Print the version."""
    from openvpp import __version__

    out.print(__version__)


__all__ = ["DEMO_DOMAIN", "app"]
