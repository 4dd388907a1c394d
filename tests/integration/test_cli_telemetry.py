"""``openvpp telemetry import`` on every backend: batches through the ingest service, counts,
one audit row per batch, and a malformed file stops before anything is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openvpp.cli.main import app
from openvpp.identity.model import Principal, Role
from openvpp.resources.templates import ResourceType
from openvpp.runtime import Runtime

runner = CliRunner()
T0 = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)


def setup_resource(rt: Runtime) -> tuple[str, str]:
    """An organization ``gridco`` with one battery; returns (organization id, resource id)."""
    org = rt.identity.create_organization(rt.uow(), "Grid Co", "gridco")
    principal = Principal(
        kind="user", id="u1", organization_id=org.id, roles=frozenset({Role.ADMIN}), user_id="u1"
    )
    resource = rt.resources.create(
        rt.uow(),
        principal,
        name="B",
        resource_type=ResourceType.BATTERY,
        template_version=1,
        parameters={},
        grid_node="N1",
        latitude=None,
        longitude=None,
    )
    return org.id, resource.id


def write_csv(path: Path, rid: str, rows: int) -> Path:
    lines = ["resource_id,ts,power_mw,soc,fault"]
    for i in range(rows):
        ts = (T0 + timedelta(minutes=15 * i)).isoformat()
        lines.append(f"{rid},{ts},{0.5 if i % 2 else -0.5},{'' if i % 3 else 0.5},false")
    lines.append(f"{rid},{T0.isoformat()},0.1,,false")  # a duplicate of the first
    lines.append(f"not-a-resource,{T0.isoformat()},0.1,,false")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def audit_actions(rt: Runtime, action: str) -> int:
    with rt.uow(readonly=True) as uow:
        return sum(1 for r in uow.audit.iterate() if r.action == action)


def test_import_in_batches_counts_and_audits_each_batch(cli_env: Runtime, tmp_path: Path) -> None:
    org_id, rid = setup_resource(cli_env)
    csv_file = write_csv(tmp_path / "points.csv", rid, 7)
    result = runner.invoke(
        app, ["telemetry", "import", str(csv_file), "--org", "gridco", "--batch-size", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "9 points; accepted 7, duplicates 1, rejected 1 (unknown_resource 1)" in result.output
    assert audit_actions(cli_env, "telemetry.ingest") == 3  # batches of 3, 3 and 3
    with cli_env.uow(readonly=True) as uow:
        stored = uow.telemetry.query(rid, None, None, 100)
        resource = uow.resources.get(org_id, rid)
    assert len(stored) == 7
    assert stored[0].soc == 0.5 and stored[1].soc is None
    assert resource is not None and resource.last_seen_at == T0 + timedelta(minutes=90)
    # Importing again, by organization id this time: everything is a duplicate.
    again = runner.invoke(app, ["telemetry", "import", str(csv_file), "--org", org_id])
    assert again.exit_code == 0, again.output
    assert "accepted 0, duplicates 8, rejected 1" in again.output


def test_a_malformed_file_stores_nothing_and_exits_1(cli_env: Runtime, tmp_path: Path) -> None:
    _, rid = setup_resource(cli_env)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "resource_id,ts,power_mw\n"
        f"{rid},2026-03-29T00:00:00Z,1.0\n"
        f"{rid},2026-03-29T00:15:00,1.0\n",  # no offset
        encoding="utf-8",
    )
    result = runner.invoke(app, ["telemetry", "import", str(bad), "--org", "gridco"])
    assert result.exit_code == 1
    assert "line 3, column ts" in result.output
    assert "nothing was imported" in result.output
    with cli_env.uow(readonly=True) as uow:
        assert uow.telemetry.query(rid, None, None, 10) == []
    assert audit_actions(cli_env, "telemetry.ingest") == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "nobody"], "no organization with slug or id 'nobody'"),
        (["--org", "gridco", "--batch-size", "0"], "batch-size"),
    ],
)
def test_bad_arguments_exit_non_zero(
    cli_env: Runtime, tmp_path: Path, args: list[str], message: str
) -> None:
    _, rid = setup_resource(cli_env)
    csv_file = write_csv(tmp_path / "points.csv", rid, 2)
    result = runner.invoke(app, ["telemetry", "import", str(csv_file), *args])
    assert result.exit_code != 0
    assert message in result.output


def test_missing_or_unsupported_files_exit_1(cli_env: Runtime, tmp_path: Path) -> None:
    setup_resource(cli_env)
    missing = runner.invoke(
        app, ["telemetry", "import", str(tmp_path / "nope.csv"), "--org", "gridco"]
    )
    assert missing.exit_code == 1 and "no such file" in missing.output
    parquet = tmp_path / "points.parquet"
    parquet.write_bytes(b"PAR1")
    unsupported = runner.invoke(app, ["telemetry", "import", str(parquet), "--org", "gridco"])
    assert unsupported.exit_code == 1 and "only CSV" in unsupported.output


def test_several_writers_keep_each_resource_in_order(cli_env: Runtime, tmp_path: Path) -> None:
    org_id, first = setup_resource(cli_env)
    principal = Principal(
        kind="user", id="u1", organization_id=org_id, roles=frozenset({Role.ADMIN}), user_id="u1"
    )
    others = [
        cli_env.resources.create(
            cli_env.uow(),
            principal,
            name=f"B{i}",
            resource_type=ResourceType.BATTERY,
            template_version=1,
            parameters={},
            grid_node="N1",
            latitude=None,
            longitude=None,
        ).id
        for i in range(3)
    ]
    ids = [first, *others]
    lines = ["resource_id,ts,power_mw"]
    for step in range(20):  # time-ordered, resources interleaved
        ts = (T0 + timedelta(minutes=15 * step)).isoformat()
        lines += [f"{rid},{ts},0.5" for rid in ids]
    csv_file = tmp_path / "many.csv"
    csv_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "telemetry",
            "import",
            str(csv_file),
            "--org",
            "gridco",
            "--batch-size",
            "7",
            "--writers",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "80 points; accepted 80, duplicates 0, rejected 0" in result.output
    with cli_env.uow(readonly=True) as uow:
        for rid in ids:
            assert len(uow.telemetry.query(rid, None, None, 100)) == 20
