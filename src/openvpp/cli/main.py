"""``openvpp``: database, demo data, server, health, audit, jobs, users, templates."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from openvpp.audit.chain import AuditContext
from openvpp.audit.service import verify_chain
from openvpp.cli.ai import ai_app
from openvpp.cli.common import CLI_CONTEXT, err, find_organization, out
from openvpp.cli.common import fail as _fail
from openvpp.cli.common import runtime as _runtime
from openvpp.cli.exchange import exchange_app
from openvpp.cli.forecast import forecast_app
from openvpp.cli.market import market_app
from openvpp.cli.settlement import app as settlement_app
from openvpp.cli.simulate import simulate_command
from openvpp.cli.telemetry_import import ingest_stream
from openvpp.cli.trading import trading_app
from openvpp.config import load_settings
from openvpp.demo import DEMO_SLUG
from openvpp.health import check_health
from openvpp.identity.model import Role
from openvpp.jobs.model import JobStatus
from openvpp.resources.device_templates import LibraryFormat
from openvpp.resources.telemetry import CsvFormatError, TelemetryPoint, iter_csv
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
templates_app = typer.Typer(
    help="Device template libraries: export and import (JSON or YAML).", no_args_is_help=True
)
telemetry_app = typer.Typer(help="Resource telemetry.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(jobs_app, name="jobs")
app.add_typer(users_app, name="users")
app.add_typer(templates_app, name="templates")
app.add_typer(telemetry_app, name="telemetry")
app.add_typer(market_app, name="market")
app.add_typer(exchange_app, name="exchange")
app.add_typer(forecast_app, name="forecast")
app.add_typer(ai_app, name="ai")
app.add_typer(settlement_app, name="settlement")
app.add_typer(trading_app, name="trading")
app.command("simulate")(simulate_command)


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
    """Create the demo organization with one user per role and the industrial park: PV, wind,
    two batteries, process loads and an EV depot in two VPPs, with three days of telemetry,
    two weeks of PJM day-ahead prices and a connection to the simulated exchange
    (idempotent)."""
    with _runtime() as rt:
        result = seed_demo(rt, park=True)
        verb = "created" if result.created else "already present"
        out.print(f"demo organization {verb}; users: {', '.join(result.users)}")
        if result.created:
            out.print("industrial park: 7 resources, 2 VPPs (Park Energy, Park Flex), telemetry")
            out.print("markets: PJM prices 2018-12-11..24, connection 'Simulated exchange'")
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


@telemetry_app.command("import")
def telemetry_import(
    file: Annotated[Path, typer.Argument(help="CSV: resource_id,ts,power_mw[,soc][,fault]")],
    org: Annotated[str, typer.Option(help="organization slug or id")],
    batch_size: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="points per transaction")
    ] = 10_000,
    writers: Annotated[
        int, typer.Option(min=1, max=8, help="concurrent transactions (each resource in one)")
    ] = 1,
) -> None:
    """Import telemetry from a CSV file into an organization, batch by batch.

    The whole file is checked first: a malformed line stops the import before anything is
    stored (exit code 1, naming line and column). Each batch is then ingested like
    POST /api/vpp/telemetry (same screening, one audit row per batch)."""
    if file.suffix.lower() not in (".csv", ".txt"):
        raise _fail(f"{file}: only CSV files are supported (.csv)")
    if not file.is_file():
        raise _fail(f"{file}: no such file")
    with _runtime() as rt:
        organization_id = find_organization(rt, org)
        context = AuditContext(actor_type="system", actor_id="cli", organization_id=organization_id)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,} points"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            check = bar.add_task("checking", total=None)
            total = 0
            for total, _ in enumerate(_csv_points(file), start=1):
                if total % 10_000 == 0:
                    bar.update(check, completed=total)
            bar.update(check, completed=total, visible=False)
            task = bar.add_task("importing", total=total)
            totals = ingest_stream(
                rt,
                organization_id,
                context,
                _csv_points(file),
                batch_size=batch_size,
                writers=writers,
                advance=lambda n: bar.advance(task, n),
            )
    rejected = sum(totals.rejected.values())
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(totals.rejected.items()))
    out.print(
        f"{file.name}: {total} points; accepted {totals.accepted}, "
        f"duplicates {totals.duplicates}, rejected {rejected}"
        + (f" ({reasons})" if reasons else "")
    )
    for example in totals.examples[:5]:
        out.print(f"  {example}")


def _csv_points(file: Path) -> Iterator[TelemetryPoint]:
    """The file's points; a malformed file becomes a message naming it, and exit code 1."""
    try:
        with file.open(encoding="utf-8-sig", newline="") as fh:
            yield from iter_csv(fh)
    except CsvFormatError as exc:
        raise _fail(f"{file}: {exc.message}; nothing was imported") from exc
    except UnicodeDecodeError as exc:
        raise _fail(f"{file}: not UTF-8 text ({exc.reason}); nothing was imported") from exc
    except OSError as exc:
        raise _fail(f"{file}: {exc.strerror or exc}") from exc


OrgOption = Annotated[str, typer.Option("--org", help="organization slug")]


@templates_app.command("export")
def templates_export(
    fmt: Annotated[LibraryFormat, typer.Option("--format", help="document format")] = (
        LibraryFormat.YAML
    ),
    org: OrgOption = DEMO_SLUG,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to FILE instead of stdout")
    ] = None,
) -> None:
    """Export the built-in templates and the organization's device templates."""
    with _runtime() as rt:
        organization = rt.identity.organization_by_slug(rt.uow(readonly=True), org)
        text = rt.device_templates.export(rt.uow(readonly=True), organization.id, fmt)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"library of {org!r} written to {output}")


@templates_app.command("import")
def templates_import(
    file: Annotated[Path, typer.Argument(help="library document (.json, .yaml or .yml)")],
    org: OrgOption = DEMO_SLUG,
) -> None:
    """Import a library document's device templates, all or nothing (built-ins are ignored)."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {file}: {exc}") from exc
    fmt = LibraryFormat.JSON if file.suffix.lower() == ".json" else LibraryFormat.YAML
    with _runtime() as rt:
        organization = rt.identity.organization_by_slug(rt.uow(readonly=True), org)
        result = rt.device_templates.import_library(rt.uow(CLI_CONTEXT), organization.id, text, fmt)
    for label, items in (("created", result.created), ("unchanged", result.unchanged)):
        out.print(f"{label}: {', '.join(t.label for t in items) or '-'}")


@app.command()
def version() -> None:
    """Print the version."""
    from openvpp import __version__

    out.print(__version__)
