"""``openvpp templates export/import`` on every backend: a library round-trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from openvpp.cli.main import app
from openvpp.runtime import Runtime
from tests.integration.test_api_device_templates import MEGAPACK, ROOF_PV, library

runner = CliRunner()


@pytest.fixture
def env(seeded: Runtime, cli_env: Runtime) -> Runtime:
    return seeded


def test_templates_import_export_round_trip(env: Runtime, tmp_path: Path) -> None:
    source = tmp_path / "library.yaml"
    source.write_text(yaml.safe_dump(library(MEGAPACK, ROOF_PV)), encoding="utf-8")
    imported = runner.invoke(app, ["templates", "import", str(source)])
    assert imported.exit_code == 0, imported.output
    assert "created: megapack-2xl v1, roof-pv v1" in imported.output
    again = runner.invoke(app, ["templates", "import", str(source), "--org", "demo"])
    assert again.exit_code == 0, again.output
    assert "unchanged: megapack-2xl v1, roof-pv v1" in again.output

    target = tmp_path / "out.json"
    exported = runner.invoke(app, ["templates", "export", "--format", "json", "-o", str(target)])
    assert exported.exit_code == 0, exported.output
    document = json.loads(target.read_text(encoding="utf-8"))
    assert [t["key"] for t in document["templates"]] == ["megapack-2xl", "roof-pv"]
    assert document["templates"][0]["limits"] == MEGAPACK["limits"]
    as_yaml = runner.invoke(app, ["templates", "export"])
    assert as_yaml.exit_code == 0, as_yaml.output
    assert yaml.safe_load(as_yaml.stdout) == document

    # Into another organization: the exported file creates the same templates there.
    assert runner.invoke(app, ["users", "create-org", "Grid Co", "gridco"]).exit_code == 0
    into_other = runner.invoke(app, ["templates", "import", str(target), "--org", "gridco"])
    assert into_other.exit_code == 0, into_other.output
    assert "created: megapack-2xl v1, roof-pv v1" in into_other.output
    theirs = runner.invoke(app, ["templates", "export", "--org", "gridco", "--format", "json"])
    assert json.loads(theirs.stdout) == document


def test_templates_import_reports_the_problem(env: Runtime, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(library({**MEGAPACK, "defaults": {"energy_mwh": -1}})), encoding="utf-8"
    )
    result = runner.invoke(app, ["templates", "import", str(bad)])
    assert result.exit_code == 1
    assert "templates[0].defaults.energy_mwh" in result.output
    missing = runner.invoke(app, ["templates", "import", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 1
    unknown_org = runner.invoke(app, ["templates", "export", "--org", "nope"])
    assert unknown_org.exit_code == 1
    assert "nope" in unknown_org.output
