"""``openvpp ai``: the model registry from the command line (register, train with a progress
bar, predict, inspect)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from openvpp.audit.chain import AuditContext
from openvpp.cli.common import err, fail, find_organization, out, runtime
from openvpp.core.clock import ensure_utc
from openvpp.forecasting.protocol import ModelKind
from openvpp.forecasting.registry.catalog import all_algorithms

ai_app = typer.Typer(
    help="Model registry: register, train, predict, performance.", no_args_is_help=True
)

Org = Annotated[str, typer.Option(help="organization slug or id")]


def _context(org_id: str) -> AuditContext:
    return AuditContext(actor_type="system", actor_id="cli", organization_id=org_id)


def _when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return ensure_utc(datetime.fromisoformat(value))
    except ValueError:
        raise fail(f"--{name} must be an ISO 8601 time with an offset, got {value!r}") from None


@ai_app.command("algorithms")
def algorithms() -> None:
    """The algorithms the registry can train, with the model kinds they serve."""
    table = Table("algorithm", "kinds", "description")
    for name, algo in sorted(all_algorithms().items()):
        table.add_row(name, ", ".join(sorted(algo.kinds)), algo.description)
    out.print(table)


@ai_app.command("list")
def list_models(org: Org, kind: Annotated[ModelKind | None, typer.Option()] = None) -> None:
    """The organization's models."""
    with runtime() as rt:
        org_id = find_organization(rt, org)
        models = rt.models.list(rt.uow(readonly=True), org_id, kind, 500, 0)
    table = Table("id", "name", "kind", "algorithm", "versions")
    for m in models:
        table.add_row(m.id, m.name, m.kind.value, m.algorithm, str(m.latest_version))
    out.print(table)


@ai_app.command("create")
def create(
    spec: Annotated[
        Path,
        typer.Argument(help="YAML or JSON: name, kind, algorithm, params, data_source"),
    ],
    org: Org,
) -> None:
    """Register a model from a file (the body of POST /api/vpp/ai/models)."""
    if not spec.is_file():
        raise fail(f"{spec}: no such file")
    try:
        body: Any = yaml.safe_load(spec.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise fail(f"{spec}: not YAML or JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise fail(f"{spec}: expected a mapping with name, kind, algorithm, data_source")
    unknown = sorted(
        set(body) - {"name", "kind", "algorithm", "description", "params", "data_source"}
    )
    if unknown:
        raise fail(f"{spec}: unknown fields {unknown}")
    try:
        kind = ModelKind(str(body.get("kind")))
    except ValueError:
        raise fail(f"kind must be one of {[k.value for k in ModelKind]}") from None
    with runtime() as rt:
        org_id = find_organization(rt, org)
        model = rt.models.create(
            rt.uow(_context(org_id)),
            org_id,
            None,
            name=str(body.get("name", "")),
            kind=kind,
            algorithm=str(body.get("algorithm", "")),
            description=str(body.get("description", "")),
            params=body.get("params") or {},
            data_source=body.get("data_source") or {},
        )
    out.print(f"model {model.id} ({model.name}) registered")


@ai_app.command("train")
def train(
    model_id: str,
    org: Org,
    train_start: Annotated[str | None, typer.Option(help="ISO time [UTC offset]")] = None,
    train_end: Annotated[str | None, typer.Option(help="ISO time; default as_of")] = None,
    as_of: Annotated[str | None, typer.Option(help="data as known at; default now")] = None,
    holdout_days: Annotated[int, typer.Option(min=0, max=90)] = 7,
) -> None:
    """Train a new version here, with a progress bar (the API runs the same as a job)."""
    params: dict[str, Any] = {"model_id": model_id, "holdout_days": holdout_days}
    for key, value in (("train_start", train_start), ("train_end", train_end), ("as_of", as_of)):
        when = _when(value, key.replace("_", "-"))
        if when is not None:
            params[key] = when.isoformat()
    with runtime() as rt:
        org_id = find_organization(rt, org)
        checked = rt.models.check_train(rt.uow(readonly=True), org_id, params)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("training", total=1.0)
            result = rt.models.train(
                lambda: rt.uow(_context(org_id)),
                org_id,
                checked,
                None,
                lambda f, message: bar.update(task, completed=f, description=message),
            )
    holdout = result["metrics"].get("holdout") or {}
    table = Table("version", "mae", "rmse", "pinball", "coverage_80", "skill_mae")
    table.add_row(
        str(result["version"]),
        *(
            f"{holdout[k]:.4g}" if isinstance(holdout.get(k), float) else "-"
            for k in ("mae", "rmse", "pinball", "coverage_80", "skill_mae")
        ),
    )
    out.print(table)


@ai_app.command("predict")
def predict(
    model_id: str,
    org: Org,
    start: Annotated[str, typer.Option(help="first interval [ISO time with offset]")],
    end: Annotated[str, typer.Option(help="end of the horizon (exclusive)")],
    issued_at: Annotated[str | None, typer.Option(help="data as known at; default now")] = None,
    version: Annotated[int | None, typer.Option(min=1, max=2**31 - 1)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the points as JSON")] = False,
) -> None:
    """Forecast a horizon and store the prediction with its issue time."""
    begin, finish = _when(start, "start"), _when(end, "end")
    if begin is None or finish is None:  # both options are required
        raise fail("--start and --end are required")
    with runtime() as rt:
        org_id = find_organization(rt, org)
        forecast = rt.predictions.predict(
            rt.uow(readonly=True),
            rt.uow(_context(org_id)),
            org_id,
            None,
            model_id,
            begin,
            finish,
            version=version,
            issued_at=_when(issued_at, "issued-at"),
        )
    frame = forecast.points
    starts = [ts.isoformat() for ts in frame.index]
    values = frame[["p10", "p50", "p90"]].to_numpy(dtype=float).tolist()
    if as_json:
        rows = [
            {"start": ts, "p10": q[0], "p50": q[1], "p90": q[2]}
            for ts, q in zip(starts, values, strict=True)
        ]
        print(json.dumps({"run_id": forecast.run.id, "unit": forecast.run.unit, "points": rows}))
        return
    table = Table("start [UTC]", "p10", "p50", "p90", title=forecast.run.unit)
    for ts, q in zip(starts, values, strict=True):
        table.add_row(ts, *(f"{v:.3f}" for v in q))
    out.print(table)


@ai_app.command("performance")
def performance(model_id: str, org: Org) -> None:
    """Hold-out metrics of each version and the live accuracy of its predictions (JSON)."""
    with runtime() as rt:
        org_id = find_organization(rt, org)
        report = rt.predictions.performance(rt.uow(readonly=True), org_id, model_id)
    print(json.dumps(report, default=str, indent=2))
