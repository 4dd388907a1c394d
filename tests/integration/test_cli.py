"""The ``openvpp`` commands on every backend: migrate, seed, health, jobs, users."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from openvpp.cli.main import app
from openvpp.runtime import Runtime
from openvpp.store.migrate import head_revision
from tests.support import SECRET

runner = CliRunner()


def test_migrate_seed_health(cli_env: Runtime) -> None:
    migrated = runner.invoke(app, ["db", "migrate"])
    assert migrated.exit_code == 0, migrated.output
    assert f"revision {head_revision()}" in migrated.output
    seeded = runner.invoke(app, ["db", "seed"])
    assert seeded.exit_code == 0, seeded.output
    assert "admin@demo.openvpp.org" in seeded.output
    again = runner.invoke(app, ["db", "seed"])
    assert "already present" in again.output
    health = runner.invoke(app, ["health"])
    assert health.exit_code == 0, health.output
    assert "healthy" in health.output


def test_health_fails_with_the_reason_when_migrations_are_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENVPP_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("OPENVPP_SECRET_KEY", SECRET)
    result = runner.invoke(app, ["health"])
    assert result.exit_code == 1
    assert "openvpp db migrate" in result.output


def test_health_fails_when_the_database_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENVPP_DATABASE_URL", "postgresql://postgres@127.0.0.1:9/none")
    monkeypatch.setenv("OPENVPP_SECRET_KEY", SECRET)
    result = runner.invoke(app, ["health"])
    assert result.exit_code == 1
    assert "database: unreachable" in result.output


def test_users_and_jobs_commands(cli_env: Runtime) -> None:
    org = runner.invoke(app, ["users", "create-org", "Grid Co", "gridco"])
    assert org.exit_code == 0, org.output
    dup = runner.invoke(app, ["users", "create-org", "Grid Co", "gridco"])
    assert dup.exit_code == 1
    user = runner.invoke(
        app,
        [
            "users",
            "create",
            "--org",
            "gridco",
            "--email",
            "ops@grid.co",
            "--role",
            "operator",
            "--role",
            "trader",
        ],
        input="a-long-password\na-long-password\n",
    )
    assert user.exit_code == 0, user.output
    job = runner.invoke(app, ["jobs", "submit", "maintenance.prune"])
    assert job.exit_code == 0, job.output
    worker = runner.invoke(app, ["jobs", "worker", "--once"])
    assert worker.exit_code == 0, worker.output
    assert "succeeded" in worker.output
    listed = runner.invoke(app, ["jobs", "list"])
    assert "maintenance.prune" in listed.output
    bad = runner.invoke(app, ["jobs", "submit", "no.such.kind"])
    assert bad.exit_code == 1
