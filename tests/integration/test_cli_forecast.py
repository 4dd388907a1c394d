"""``openvpp forecast benchmark`` end to end on the shipped NP excerpt (real data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openvpp.cli.main import app

runner = CliRunner()
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "forecasting" / "np_excerpt_120d.csv"
BASE = ["forecast", "benchmark", "--data", str(SAMPLE)]


def test_benchmark_prints_the_metrics_and_json_last(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(
        app,
        [*BASE, "--test-days", "8", "--model", "lear", "--json"],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["test_days"] == 8 and figures["model"] == "lear"
    assert "mae_gbm" not in figures
    assert 0 < figures["mae"] < 10
    assert figures["rmae_weekly"] < 1  # beats the weekly naive on these days
    for key in ("rmae_standard", "smape", "rmse", "wall_time_s"):
        assert key in figures


@pytest.mark.slow
def test_benchmark_default_is_the_ensemble_with_quantiles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(
        app, ["forecast", "benchmark", "--data", str(SAMPLE), "--test-days", "8", "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["model"] == "ensemble"
    assert 0 < figures["mae"] < 10 and figures["rmae_weekly"] < 1
    assert 0 < figures["pinball"] < figures["mae"]
    assert 0 <= figures["coverage_p10_p90"] <= 1
    assert figures["mae_lear"] > 0 and figures["mae_gbm"] > 0
    gbm = runner.invoke(
        app,
        [*BASE, "--test-days", "8", "--model", "gbm", "--json"],
    )
    assert gbm.exit_code == 0, gbm.output
    assert json.loads(gbm.output.strip().splitlines()[-1])["model"] == "gbm"
    unknown = runner.invoke(app, ["forecast", "benchmark", "--data", str(SAMPLE), "--model", "dnn"])
    assert unknown.exit_code != 0


def test_benchmark_refuses_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    gone = runner.invoke(app, ["forecast", "benchmark", "--data", str(tmp_path / "x.csv")])
    assert gone.exit_code == 1 and "no such file" in gone.output
    short = tmp_path / "short.csv"
    short.write_text("Date,Price\n2020-01-01 00:00:00,1\n", encoding="utf-8")
    refused = runner.invoke(app, ["forecast", "benchmark", "--data", str(short)])
    assert refused.exit_code == 1
