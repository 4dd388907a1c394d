"""``openvpp forecast``: forecasting benchmarks."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from openvpp.cli.common import err, fail, out
from openvpp.forecasting.metrics import coverage, pinball, summary
from openvpp.forecasting.price.data import load_day_matrix
from openvpp.forecasting.price.lear import LearConfig
from openvpp.forecasting.price.quantiles import DEFAULT_LEVELS
from openvpp.forecasting.price.runner import progress_steps, run_benchmark


class Model(StrEnum):
    LEAR = "lear"
    GBM = "gbm"
    ENSEMBLE = "ensemble"


forecast_app = typer.Typer(help="Forecasting: benchmarks on real data.", no_args_is_help=True)


@forecast_app.command("benchmark")
def benchmark(
    data: Annotated[
        Path,
        typer.Option(
            help="a file in the epftoolbox layout: timestamp, price, exogenous day-ahead "
            "forecasts (column names may differ), 24 hourly rows per day"
        ),
    ],
    model: Annotated[
        Model,
        typer.Option(
            help="the forecaster: LEAR (LASSO, daily recalibration), gbm (LightGBM, retrained "
            "weekly) or ensemble (their weighted mean: 0.6 LEAR + 0.4 LightGBM)"
        ),
    ] = Model.ENSEMBLE,
    test_days: Annotated[
        int, typer.Option(min=8, max=5000, help="days at the end of the file to forecast")
    ] = 728,
    select_every: Annotated[
        int,
        typer.Option(
            min=1,
            max=365,
            help="re-select each hour's LASSO penalty every N days (1: the reference protocol, "
            "about 3x slower; the coefficients are refitted every day either way)",
        ),
    ] = 7,
    as_json: Annotated[
        bool, typer.Option("--json", help="also print the figures as one JSON object, last")
    ] = False,
) -> None:
    """Forecast each of the last TEST_DAYS days from the data before it (daily
    recalibration, the epftoolbox protocol) and report MAE, rMAE (weekly and standard naive),
    sMAPE, RMSE, the pinball loss and p10-p90 coverage of the quantiles, and wall time."""
    if not data.is_file():
        raise fail(f"{data}: no such file")
    try:
        dm = load_day_matrix(data)
    except ValueError as exc:
        raise fail(f"{data}: {exc}") from exc
    config = LearConfig(select_every=select_every)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        # one step per model member (each LEAR window, the booster) and forecast day
        steps = progress_steps(test_days, model.value, config)
        task = bar.add_task(f"{model.value} on {data.name} (model-days)", total=steps)
        try:
            result = run_benchmark(
                dm,
                model=model.value,
                test_days=test_days,
                config=config,
                progress=lambda _d: bar.advance(task),
            )
        except ValueError as exc:
            raise fail(f"{data}: {exc}") from exc
    figures = {
        "data": str(data),
        "model": model.value,
        "test_days": test_days,
        "select_every": select_every,
        **{
            k: round(v, 4)
            for k, v in summary(result.actual, result.forecasts, result.dates).items()
        },
        "pinball": round(pinball(result.actual, result.quantiles, DEFAULT_LEVELS), 4),
        "coverage_p10_p90": round(
            coverage(result.actual, result.quantiles[..., 0], result.quantiles[..., -1]), 4
        ),
        **{
            f"mae_{name}": round(float(abs(f - result.actual).mean()), 4)
            for name, f in result.per_model.items()
            if name != model.value
        },
        "wall_time_s": round(result.wall_time_s, 1),
    }
    table = Table("metric", "value")
    keys = ("mae", "rmae_weekly", "rmae_standard", "smape", "rmse", "pinball", "coverage_p10_p90")
    for key in (*keys, *(k for k in figures if k.startswith("mae_")), "wall_time_s"):
        table.add_row(key, f"{figures[key]}")
    out.print(table)
    if as_json:
        print(json.dumps(figures))


# load, PV and wind evaluations live in their own module
from openvpp.cli.forecast_evaluate import evaluate  # noqa: E402

forecast_app.command("evaluate")(evaluate)
