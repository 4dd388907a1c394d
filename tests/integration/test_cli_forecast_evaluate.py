"""``openvpp forecast evaluate {load|pv|wind}`` end to end on the shipped samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openvpp.cli.main import app

runner = CliRunner()
DATA = Path(__file__).resolve().parents[1] / "data" / "forecasting"
HOUSEHOLD = DATA / "opsd_household_grid_import_6w.csv"
NSRDB = DATA / "nsrdb_2023_may_jun_6w.csv"


@pytest.mark.parametrize(
    ("kind", "path", "section", "skill"),
    [
        ("load", HOUSEHOLD, "day_ahead", "skill_persistence_day"),
        pytest.param("pv", NSRDB, "day_ahead", "skill_smart_persistence", marks=pytest.mark.slow),
        pytest.param("wind", NSRDB, "intraday_all", "skill_persistence", marks=pytest.mark.slow),
    ],
)
def test_evaluate_prints_figures_and_json_last(
    kind: str, path: Path, section: str, skill: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(
        app,
        ["forecast", "evaluate", kind, "--data", str(path), "--min-train-days", "28", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert "rmse" in result.output and "wall time" in result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["kind"] == kind and figures["min_train_days"] == 28
    assert figures[section]["n"] > 0 and skill in figures[section]


def test_evaluate_refuses_missing_and_wrong_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    gone = runner.invoke(app, ["forecast", "evaluate", "pv", "--data", str(tmp_path / "x.csv")])
    assert gone.exit_code == 1 and "no such file" in gone.output
    wrong = runner.invoke(app, ["forecast", "evaluate", "load", "--data", str(NSRDB)])
    assert wrong.exit_code == 1 and "utc_timestamp" in wrong.output
