"""``openvpp ai``: register from a file, train with a progress bar, predict, performance."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from openvpp.cli.main import app
from openvpp.runtime import Runtime

runner = CliRunner()
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "forecasting" / "np_excerpt_120d.csv"
SPEC = """
name: NP naive
kind: price
algorithm: seasonal_naive
params: {season_hours: 168}
data_source:
  type: market_data
  target: {market: EU-SDAC, area: NP, product: H, series: price}
"""


def test_register_train_predict(cli_env: Runtime, seeded: Runtime, tmp_path: Path) -> None:
    imported = runner.invoke(
        app,
        [
            "market",
            "import",
            str(SAMPLE),
            "--org",
            "demo",
            "--format",
            "epftoolbox",
            "--market",
            "EU-SDAC",
            "--area",
            "NP",
        ],
    )
    assert imported.exit_code == 0, imported.output
    spec = tmp_path / "model.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    created = runner.invoke(app, ["ai", "create", str(spec), "--org", "demo"])
    assert created.exit_code == 0, created.output
    model_id = created.output.split()[1]
    listed = runner.invoke(app, ["ai", "list", "--org", "demo"])
    assert "NP naive" in listed.output
    trained = runner.invoke(
        app,
        [
            "ai",
            "train",
            model_id,
            "--org",
            "demo",
            "--train-start",
            "2018-08-27T00:00:00+00:00",
            "--train-end",
            "2018-11-30T00:00:00+00:00",
            "--as-of",
            "2018-12-01T00:00:00+00:00",
        ],
    )
    assert trained.exit_code == 0, trained.output
    predicted = runner.invoke(
        app,
        [
            "ai",
            "predict",
            model_id,
            "--org",
            "demo",
            "--start",
            "2018-12-03T00:00:00+00:00",
            "--end",
            "2018-12-04T00:00:00+00:00",
            "--issued-at",
            "2018-12-02T10:00:00+00:00",
            "--json",
        ],
    )
    assert predicted.exit_code == 0, predicted.output
    points = json.loads(predicted.output.strip().splitlines()[-1])["points"]
    assert len(points) == 24 and all(p["p10"] <= p["p50"] <= p["p90"] for p in points)
    perf = runner.invoke(app, ["ai", "performance", model_id, "--org", "demo"])
    assert perf.exit_code == 0 and json.loads(perf.output)["versions"][0]["live"]["runs"] == 1
    future = runner.invoke(
        app, ["ai", "train", model_id, "--org", "demo", "--as-of", "2999-01-01T00:00:00+00:00"]
    )
    assert future.exit_code == 1 and "as_of" in future.output


def test_bad_spec_files_are_refused(cli_env: Runtime, seeded: Runtime, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: x\nkind: weather\n", encoding="utf-8")
    bad_kind = runner.invoke(app, ["ai", "create", str(spec), "--org", "demo"])
    assert bad_kind.exit_code == 1 and "kind" in bad_kind.output
    spec.write_text(SPEC.replace("seasonal_naive", "nope"), encoding="utf-8")
    bad_algo = runner.invoke(app, ["ai", "create", str(spec), "--org", "demo"])
    assert bad_algo.exit_code == 1 and "unknown algorithm" in bad_algo.output
    algos = runner.invoke(app, ["ai", "algorithms"])
    assert "historical_risk" in algos.output
