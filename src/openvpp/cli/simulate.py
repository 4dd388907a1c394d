"""``openvpp simulate``: the whole trading and dispatch loop against real historical prices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from openvpp.cli.common import err, fail, find_organization, out, runtime
from openvpp.forecasting.price.data import load_day_matrix
from openvpp.forecasting.price.lear import LearConfig
from openvpp.forecasting.price.runner import MODELS, progress_steps
from openvpp.resources.models.battery import BatterySpec
from openvpp.resources.templates import ResourceType
from openvpp.simulation.loop import (
    DEMO_BATTERY,
    SELECT_EVERY,
    SimulationConfig,
    forecast_days,
    simulate,
)
from openvpp.simulation.plant import BatteryPlant


def vpp_batteries(org: str, name: str) -> tuple[BatterySpec, ...]:
    """The batteries of the VPP named ``name`` in organization ``org``, each scaled by the
    VPP's share of it."""
    with runtime() as rt:
        org_id = find_organization(rt, org)
        with rt.uow(readonly=True) as uow:
            vpp = next((v for v in uow.vpps.page(org_id, 1000, 0) if v.name == name), None)
            if vpp is None:
                raise fail(f"no VPP named {name!r} in {org!r}")
            allocations, _ = uow.vpps.allocations(vpp.id)
    specs = []
    for a in allocations:
        if a.unit.resource_type is not ResourceType.BATTERY or a.valid_to is not None:
            continue
        p, share = a.unit.parameters, float(a.share_pct) / 100
        specs.append(
            BatterySpec(
                p["energy_mwh"] * share,
                p["p_charge_max_mw"] * share,
                p["p_discharge_max_mw"] * share,
                p["eta_charge"],
                p["eta_discharge"],
                p["soc_min"],
                p["soc_max"],
                p.get("self_discharge_per_h", 0.0),
            )
        )
    if not specs:
        raise fail(f"VPP {name!r} has no batteries: the simulation trades storage")
    return tuple(specs)


def simulate_command(
    prices: Annotated[
        Path,
        typer.Option(
            help="real prices in the epftoolbox layout (timestamp, price, exogenous day-ahead "
            "forecasts; 24 hourly rows per day)"
        ),
    ],
    days: Annotated[int, typer.Option(min=1, max=2000, help="days at the end of the file")] = 30,
    vpp: Annotated[
        str | None,
        typer.Option(help="trade this stored VPP's batteries (default: the demo battery)"),
    ] = None,
    org: Annotated[str, typer.Option(help="organization of --vpp (slug or id)")] = "demo",
    market: Annotated[str, typer.Option(help="market preset the prices clear in")] = "EU-SDAC",
    product: Annotated[str, typer.Option(help="auction product (hourly prices)")] = "H",
    strategy: Annotated[
        str,
        typer.Option(
            help="schedule: bid the optimal schedule at the median forecast; curve: "
            "price-quantity curves from the price scenarios"
        ),
    ] = "schedule",
    model: Annotated[str, typer.Option(help="price forecaster: lear, gbm or ensemble")] = (
        "ensemble"
    ),
    seed: Annotated[int, typer.Option(min=0, help="seed of the twin's noise and faults")] = 0,
    fault_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="probability per device and day of a fault")
    ] = 0.02,
    twin_step: Annotated[
        float,
        typer.Option(
            min=1.0,
            max=300.0,
            help="the device simulator's control cycle [s], at most the loop's 5-minute "
            "control step",
        ),
    ] = 300.0,
    no_correction: Annotated[
        bool, typer.Option("--no-correction", help="no re-dispatch and no intraday trading")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="also print the figures as one JSON object, last")
    ] = False,
) -> None:
    """Run forecast -> bid -> clear -> dispatch -> telemetry -> correction over the last DAYS
    days of the price file on the simulated exchange, in accelerated time, and report revenue,
    imbalance volume and the capture ratio (revenue over the perfect-foresight optimum's)."""
    if model not in MODELS:
        raise fail(f"--model must be one of {', '.join(MODELS)}")
    if not prices.is_file():
        raise fail(f"{prices}: no such file")
    try:
        dm = load_day_matrix(prices)
        batteries = vpp_batteries(org, vpp) if vpp else (DEMO_BATTERY,)
        config = SimulationConfig(
            market=market,
            product=product,
            strategy=strategy,  # type: ignore[arg-type]
            batteries=batteries,
            fault_rate=fault_rate,
            correction=not no_correction,
            seed=seed,
        )
    except ValueError as exc:
        raise fail(f"{exc}") from exc
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(
            f"forecasting {days} days ({model})",
            total=progress_steps(days, model, LearConfig(select_every=SELECT_EVERY)),
        )
        try:
            price_days, forecast_s = forecast_days(
                dm, days, model=model, progress=lambda _d: bar.advance(task)
            )
        except ValueError as exc:
            raise fail(f"{prices}: {exc}") from exc
        loop = bar.add_task("bid, clear, dispatch, correct, settle (days)", total=days)
        plant = BatteryPlant.for_days(config, price_days, step_s=twin_step)
        try:
            result = simulate(
                price_days, config, plant, forecast_time_s=forecast_s,
                progress=lambda _d: bar.advance(loop),
            )  # fmt: skip
        except ValueError as exc:
            raise fail(str(exc)) from exc
    figures = {"prices": str(prices), **result.summary()}
    table = Table("figure", "value")
    for key, value in figures.items():
        table.add_row(key, f"{value}")
    out.print(table)
    if as_json:
        print(json.dumps(figures))
