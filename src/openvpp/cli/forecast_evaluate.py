"""``openvpp forecast evaluate {load|pv|wind}``: the documented rolling-origin evaluations
of the load, PV and wind forecasters on a data file, against their persistence baselines."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from openvpp.cli.common import err, fail, out
from openvpp.forecasting.load import evaluate_load, read_opsd_household
from openvpp.forecasting.pv import NSRDB_TZ, PvForecaster, evaluate_pv, read_nsrdb
from openvpp.forecasting.wind import WIND_SPEED, WindForecaster, evaluate_wind

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
DEFAULT_FILES = {
    "load": SHARED / "load" / "opsd_household_DE_KN_residential4_60min.csv",
    "pv": SHARED / "pv" / "nsrdb_psm4_2023_40.5137_-108.5449_30min.csv",
    "wind": SHARED / "pv" / "nsrdb_psm4_2023_40.5137_-108.5449_30min.csv",
}
# the shared NSRDB file's site (data README, section 2)
NSRDB_SITE = (40.5137, -108.5449, 1_900.0)
# day-ahead: issued at 10:00 local for the next local day (leads 14 h to 38 h)
HORIZON, MIN_LEAD, ISSUE_HOUR = pd.Timedelta(hours=38), pd.Timedelta(hours=14), 10.0

Progressed = Callable[[int, int], None]


class Kind(StrEnum):
    LOAD = "load"
    PV = "pv"
    WIND = "wind"


def _load(data: Path, days: int, tick: Progressed) -> dict[str, dict[str, float]]:
    history, meter = read_opsd_household(data)
    figures = evaluate_load(history, min_train=pd.Timedelta(days=days), progress=tick)
    meter_figures = {"missing": meter.missing, "gaps": meter.gaps, "resets": meter.resets}
    return {"day_ahead": figures, "meter": {k: float(v) for k, v in meter_figures.items()}}


def _pv(data: Path, days: int, tick: Progressed) -> dict[str, dict[str, float]]:
    history = read_nsrdb(data)[["target", "clear_sky"]]
    site = NSRDB_SITE
    train = pd.Timedelta(days=days)
    intraday = evaluate_pv(
        history, PvForecaster(*site, tz=NSRDB_TZ), day_ahead=False, min_train=train, progress=tick
    )
    ahead = PvForecaster(
        *site, tz=NSRDB_TZ, horizon=HORIZON, min_lead=MIN_LEAD, issue_hour=ISSUE_HOUR
    )
    day_ahead = evaluate_pv(history, ahead, day_ahead=True, min_train=train, progress=tick)
    return {**{f"intraday_{k}": v for k, v in intraday.items()}, "day_ahead": day_ahead["all"]}


def _wind(data: Path, days: int, tick: Progressed) -> dict[str, dict[str, float]]:
    history = read_nsrdb(data)[[WIND_SPEED]]
    train = pd.Timedelta(days=days)
    # NSRDB's wind speed is a near-surface reanalysis value, taken here as 2 m above ground
    intraday = evaluate_wind(
        history,
        WindForecaster(measurement_height_m=2.0, tz=NSRDB_TZ),
        day_ahead=False,
        min_train=train,
        progress=tick,
    )
    ahead = WindForecaster(
        measurement_height_m=2.0,
        tz=NSRDB_TZ,
        horizon=HORIZON,
        min_lead=MIN_LEAD,
        issue_hour=ISSUE_HOUR,
        train_leads=(),
    )
    day_ahead = evaluate_wind(history, ahead, day_ahead=True, min_train=train, progress=tick)
    return {**{f"intraday_{k}": v for k, v in intraday.items()}, "day_ahead": day_ahead["all"]}


RUNNERS = {Kind.LOAD: _load, Kind.PV: _pv, Kind.WIND: _wind}
SHOWN = ("n", "mae", "rmse", "pinball", "coverage_80")


def evaluate(
    kind: Annotated[Kind, typer.Argument(help="load, pv or wind")],
    data: Annotated[
        Path | None,
        typer.Option(
            help="load: an OPSD household file (cumulative grid_import meter); pv and wind: "
            "an NSRDB PSM CSV; default: the shared data file"
        ),
    ] = None,
    min_train_days: Annotated[
        int | None,
        typer.Option(
            min=7, max=3650, help="history before the first forecast [days] (load 182, else 59)"
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="also print the figures as one JSON object, last")
    ] = False,
) -> None:
    """Rolling-origin evaluation (refitted on the past only) with MAE, RMSE, pinball loss,
    80 % band coverage, the baselines' errors and the skill 1 - RMSE / RMSE_baseline."""
    path = data or DEFAULT_FILES[kind.value]
    if not path.is_file():
        raise fail(f"{path}: no such file")
    days = min_train_days or (182 if kind is Kind.LOAD else 59)
    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(f"{kind.value} on {path.name} (refits)", total=None)

        def tick(done: int, total: int) -> None:
            if done == 1:
                bar.reset(task, total=total)
            bar.update(task, completed=done)

        try:
            results = RUNNERS[kind](path, days, tick)
        except (ValueError, KeyError) as exc:
            raise fail(f"{path}: {exc}") from exc
    wall = time.perf_counter() - started
    _print_tables(results)
    out.print(f"wall time {wall:.1f} s")
    if as_json:
        rounded = {k: {m: round(v, 4) for m, v in f.items()} for k, f in results.items()}
        print(
            json.dumps(
                {
                    "kind": kind.value,
                    "data": str(path),
                    "min_train_days": days,
                    "wall_time_s": round(wall, 1),
                    **rounded,
                }
            )
        )


def _print_tables(results: dict[str, dict[str, float]]) -> None:
    for name, figures in results.items():
        table = Table("metric", "value", title=name)
        for key, value in figures.items():
            if key in SHOWN or key.endswith(("_mae", "_rmse")) or key.startswith("skill_"):
                table.add_row(key, f"{value:.4g}")
            elif name == "meter":
                table.add_row(key, f"{value:.0f}")
        out.print(table)
