"""``openvpp settlement``: settle a VPP's market days from the command line."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from openvpp.cli.common import CLI_CONTEXT, find_organization, out, runtime
from openvpp.settlement.service import CalculateRequest

app = typer.Typer(help="Settlement runs (docs/settlement.md).", no_args_is_help=True)


@app.command("calculate")
def calculate(
    vpp: Annotated[str, typer.Option(help="VPP id")],
    market: Annotated[str, typer.Option(help="market whose rules and day-ahead prices apply")],
    first_day: Annotated[str, typer.Option("--from", help="first local day, YYYY-MM-DD")],
    last_day: Annotated[
        str | None, typer.Option("--to", help="last local day (default: --from)")
    ] = None,
    org: Annotated[str, typer.Option(help="organization slug or id")] = "demo",
    area: Annotated[str | None, typer.Option(help="price area (default: the VPP's)")] = None,
) -> None:
    """Settle VPP in MARKET for the days --from … --to, one transaction per day, with a
    progress bar; prints each day's status and total."""
    try:
        first = date.fromisoformat(first_day)
        last = date.fromisoformat(last_day) if last_day else first
    except ValueError as e:
        raise typer.BadParameter(f"days are YYYY-MM-DD: {e}") from None
    if last < first:
        raise typer.BadParameter("--to must not be before --from")
    with runtime() as rt:
        organization = find_organization(rt, org)
        whole = CalculateRequest(vpp, market, first, last, area=area)
        days = (last - first).days + 1
        table = Table("day", "version", "status", "total", "estimated intervals")
        with Progress(console=out, transient=True) as progress:
            task = progress.add_task("settling", total=days)
            for k in range(days):
                day = first + timedelta(days=k)
                one = replace(whole, first_day=day, last_day=day)
                [o] = rt.settlement.calculate(rt.uow(CLI_CONTEXT), organization, one)
                r = o.run
                table.add_row(
                    str(day),
                    str(r.version),
                    o.status,
                    f"{r.total * r.minor_unit} {r.currency}",
                    str(r.estimated_intervals),
                )
                progress.advance(task)
        out.print(table)
