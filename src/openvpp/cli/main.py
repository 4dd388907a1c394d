"""``openvpp``: database, demo data, server, health, audit, jobs, users."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
from openvpp.seed import seed_demo
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


@contextmanager
def _runtime() -> Iterator[Runtime]:
    """The runtime for one command: a domain error becomes a message and exit code 1."""
    rt = build_runtime(load_settings())
    try:
        yield rt
    except DomainError as exc:
        raise _fail(exc.message) from exc
    finally:
        rt.close()


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@db_app.command("migrate")
def db_migrate(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    with _runtime() as rt:
        migrate.upgrade(rt.engine, revision)
        out.print(
            f"database at revision {migrate.current_revision(rt.engine)} ({rt.engine.dialect.name})"
        )


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="target, e.g. base")]) -> None:
    """Revert migrations down to REVISION."""
    with _runtime() as rt:
        migrate.downgrade(rt.engine, revision)
        out.print(f"database at revision {migrate.current_revision(rt.engine) or 'base'}")


@db_app.command("seed")
def db_seed() -> None:
    """Create the demo organization with one user per role (idempotent)."""
    with _runtime() as rt:
        result = seed_demo(rt)
        verb = "created" if result.created else "already present"
        out.print(f"demo organization {verb}; users: {', '.join(result.users)}")
        if result.created:
            out.print("password: the value of OPENVPP_DEMO_PASSWORD (default 'openvpp-demo')")


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
        # Behind a reverse proxy the client address (login rate limit, audit) comes from
        # X-Forwarded-For, but only from the proxies named here.
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


@app.command()
def health() -> None:
    """Check the database and migrations; exit 1 with the reason when unhealthy."""
    with _runtime() as rt:
        report = check_health(rt)
    for name, state in report.checks.items():
        (out if report.ok else err).print(f"{name}: {state}")
    if not report.ok:
        raise _fail("unhealthy")
    out.print("healthy")


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the hash chain; exit 1 naming the first edited, inserted or deleted row."""
    with (
        _runtime() as rt,
        Progress(
            TextColumn("verifying"),
            BarColumn(),
            TextColumn("{task.completed} rows"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar,
    ):
        task = bar.add_task("verify", total=None)
        result = verify_chain(
            rt.uow(readonly=True, snapshot=True),
            rt.audit_key,
            progress=lambda n: bar.update(task, completed=n),
        )
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
    with _runtime() as rt:
        jobs = rt.jobs.list(rt.uow(readonly=True), None, status, limit, 0)
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
    try:
        parsed = json.loads(params)
    except json.JSONDecodeError as exc:
        raise _fail(f"--params is not valid JSON: {exc.msg}") from exc
    if not isinstance(parsed, dict):
        raise _fail("--params must be a JSON object")
    with _runtime() as rt:
        out.print(rt.jobs.submit(rt.uow(CLI_CONTEXT), None, kind, parsed).id)


@jobs_app.command("worker")
def jobs_worker(
    once: Annotated[bool, typer.Option(help="run queued jobs, then exit")] = False,
) -> None:
    """Run jobs in this process (an extra worker beside the API's in-process runner)."""
    with _runtime() as rt:
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


@users_app.command("create-org")
def create_org(name: str, slug: str) -> None:
    """Create an organization (tenant)."""
    with _runtime() as rt:
        org = rt.identity.create_organization(rt.uow(CLI_CONTEXT), name, slug)
        out.print(org.id)


@users_app.command("create")
def create_user(
    org: Annotated[str, typer.Option(help="organization slug")],
    email: Annotated[str, typer.Option()],
    role: Annotated[list[Role], typer.Option(help="repeat for several roles")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    name: Annotated[str, typer.Option(help="display name")] = "",
) -> None:
    """Create a user in an organization."""
    with _runtime() as rt:
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


@app.command()
def version() -> None:
    """Print the version."""
    from openvpp import __version__

    out.print(__version__)
