"""``openvpp market import`` and ``openvpp market series`` on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from openvpp.cli.main import app
from openvpp.runtime import Runtime

runner = CliRunner()
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "markets"


def test_import_reports_counts_and_is_idempotent(cli_env: Runtime, seeded: Runtime) -> None:
    sample = str(SAMPLES / "regelleistung_FCR_2021_excerpt.csv")
    first = runner.invoke(app, ["market", "import", sample, "--org", "demo"])
    assert first.exit_code == 0, first.output
    assert "(regelleistung_fcr)" in first.output
    assert "duplicates 0" in first.output
    assert "DE-FCR/DE/" in first.output
    again = runner.invoke(app, ["market", "import", sample, "--org", "demo"])
    assert again.exit_code == 0, again.output
    assert "stored 0," in again.output
    listing = runner.invoke(app, ["market", "series", "--org", "demo", "--market", "DE-FCR"])
    assert listing.exit_code == 0, listing.output
    assert "capacity_price" in listing.output


def test_import_needs_what_the_format_needs(cli_env: Runtime, seeded: Runtime) -> None:
    sample = str(SAMPLES / "epftoolbox_PJM_excerpt.csv")
    missing = runner.invoke(app, ["market", "import", sample, "--org", "demo"])
    assert missing.exit_code == 1
    assert "market" in missing.output and "nothing was imported" in missing.output
    ok = runner.invoke(
        app,
        [
            "market",
            "import",
            sample,
            "--org",
            "demo",
            "--market",
            "US-ISO-DA",
            "--area",
            "PJM",
            "--set",
            "publication_time_zone=America/New_York",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "US-ISO-DA/PJM/H/price" in ok.output
    for args, message in (
        (["--format", "nope"], "unknown format"),
        (["--set", "oops"], "NAME=VALUE"),
        (["--format", "energinet", "--set", "areas=DE"], "takes no option"),
        (["--org", "nobody"], "no organization"),
    ):
        result = runner.invoke(app, ["market", "import", sample, "--org", "demo", *args])
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
    gone = runner.invoke(app, ["market", "import", "/nonexistent.csv", "--org", "demo"])
    assert gone.exit_code == 1 and "no such file" in gone.output


def test_check_validates_a_market_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    good = tmp_path / "mine.yaml"
    good.write_text(
        "markets:\n  - code: XX-MINE\n    name: my market\n    venue: auction\n"
        "    time_zone: Europe/Berlin\n    currency: EUR\n    pricing: pay_as_clear\n"
        "    price_limits: {min: -500, max: 4000}\n    price_tick: 0.1\n"
        "    volume_tick_mw: 0.1\n    min_order_volume_mw: 0.1\n    products:\n"
        "      - code: QH\n        period_min: 15\n"
        '        gate_closure: {kind: day_before, days: 1, time: "12:00"}\n',
        encoding="utf-8",
    )
    ok = runner.invoke(app, ["market", "check", str(good)])
    assert ok.exit_code == 0, ok.output
    assert "XX-MINE: my market" in ok.output and "QH (15 min)" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("period_min: 15", "period_min: 7"), encoding="utf-8")
    refused = runner.invoke(app, ["market", "check", str(bad)])
    assert refused.exit_code == 1 and "period_min" in refused.output
    shadow = tmp_path / "shadow.yaml"
    shadow.write_text(good.read_text().replace("XX-MINE", "EU-SDAC"), encoding="utf-8")
    assert "shipped presets" in runner.invoke(app, ["market", "check", str(shadow)]).output
