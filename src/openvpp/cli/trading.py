"""``openvpp trading``: checks of the trading records from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.exc import DBAPIError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from openvpp.api.errors import TRANSIENT_CONFLICTS, database_code
from openvpp.cli.common import CLI_CONTEXT, err, fail, find_organization, out, runtime
from openvpp.runtime import Runtime
from openvpp.trading.exposure_check import ExposureDrift, check_exposures, repair_exposures
from openvpp.trading.risk import Exposure

trading_app = typer.Typer(help="Trading records (docs/trading.md).", no_args_is_help=True)


def _conflict(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and database_code(exc) in TRANSIENT_CONFLICTS


@trading_app.command("check-exposures")
def check_exposures_command(
    org: Annotated[
        str | None, typer.Option(help="organization slug or id (default: every one)")
    ] = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="add to each drifted row what it lacks (audited)")
    ] = False,
) -> None:
    """Compare each exposure row the position check reads with what its orders add up to;
    exit 1 listing the intervals that differ, or with --repair correct them (safe while
    trading goes on)."""
    with runtime() as rt:
        if org is None:
            with rt.uow(readonly=True) as uow:
                orgs = [(o.slug, o.id) for o in uow.organizations.list()]
        else:
            orgs = [(org, find_organization(rt, org))]
        table = Table(
            "organization", "VPP", "market", "product", "delivery start", "kept", "orders"
        )
        found = 0
        for slug, org_id in orgs:
            with err.status(f"summing the orders of {slug}"):
                if repair:
                    drifted = repair_retrying(rt, org_id)
                else:
                    drifted = check_exposures(rt.uow(readonly=True, snapshot=True), org_id)
            for d in drifted:
                table.add_row(
                    slug,
                    d.vpp_id,
                    d.market,
                    d.product,
                    d.delivery_start.isoformat(),
                    _mw(d.kept),
                    _mw(d.summed),
                )
            found += len(drifted)
    if found:
        out.print(table)
    rows, orgs_checked = _count(found, "exposure row"), _count(len(orgs), "organization")
    if found and not repair:
        raise fail(f"{rows} differ from their orders ({orgs_checked}); --repair corrects them")
    what = f"{rows} repaired" if found else "every exposure row equals its orders"
    out.print(f"{what} ({orgs_checked})")


def repair_retrying(rt: Runtime, org_id: str) -> list[ExposureDrift]:
    """:func:`repair_exposures` of the organization, run again (up to 5 times) when it meets a
    concurrent transaction (a deadlock, a serialization failure)."""
    retrying = Retrying(
        retry=retry_if_exception(_conflict),
        stop=stop_after_attempt(5),
        wait=wait_random_exponential(0.05, max=2),
        reraise=True,
    )
    return retrying(
        lambda: repair_exposures(
            rt.uow(CLI_CONTEXT), lambda: rt.uow(readonly=True, snapshot=True), org_id
        )
    )


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _mw(e: Exposure) -> str:
    return f"net {e.net_filled} / buy {e.open_buy} / sell {e.open_sell} MW"
