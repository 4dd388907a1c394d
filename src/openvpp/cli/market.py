"""``openvpp market``: market data import and catalog, and venue credential key rotation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from openvpp.audit.chain import AuditContext
from openvpp.cli.common import CLI_CONTEXT, err, fail, find_organization, out, runtime
from openvpp.core.errors import ValidationFailed
from openvpp.markets.data import FORMATS, MAX_BYTES
from openvpp.markets.data_service import typed_options
from openvpp.markets.presets import load_market_file, load_presets

market_app = typer.Typer(
    help="Market data (import, stored series) and venue connections.", no_args_is_help=True
)


def _parse_options(pairs: list[str], fmt: str | None) -> dict[str, Any]:
    given: dict[str, str | None] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise fail(f"--set expects NAME=VALUE, got {pair!r}")
        given[name] = value
    try:
        return typed_options(fmt, given)
    except ValidationFailed as exc:
        raise fail(exc.message) from exc


@market_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or ENTSO-E XML file")],
    org: Annotated[str, typer.Option(help="organization slug or id")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help=f"one of {sorted(FORMATS)}; sniffed when left out"),
    ] = None,
    market: Annotated[str | None, typer.Option(help="market code (epftoolbox needs it)")] = None,
    area: Annotated[str | None, typer.Option(help="area, e.g. NP, DK1, SE")] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="further parser option NAME=VALUE (repeatable)"),
    ] = None,
) -> None:
    """Import a market data file: every value is stored with the time it became known.

    The file is parsed whole first; a file that cannot be parsed stores nothing (exit code 1,
    naming the line or option). Re-importing a file stores nothing new (duplicates)."""
    if fmt is not None and fmt not in FORMATS:
        raise fail(f"unknown format {fmt!r}; known: {sorted(FORMATS)}")
    if not file.is_file():
        raise fail(f"{file}: no such file")
    if file.stat().st_size > MAX_BYTES:
        raise fail(f"{file}: larger than {MAX_BYTES} bytes")
    options = _parse_options(list(sets or []), fmt)
    for name, value in (("market", market), ("area", area)):
        if value is not None:
            options[name] = value
    data = file.read_bytes()
    with runtime() as rt:
        organization_id = find_organization(rt, org)
        context = AuditContext(actor_type="system", actor_id="cli", organization_id=organization_id)
        with err.status(f"importing {file.name}"):
            try:
                outcome = rt.market_data.import_file(
                    rt.uow(context),
                    organization_id,
                    data,
                    fmt=fmt,
                    options=options,
                    source=file.name,
                    actor=None,
                )
            except ValidationFailed as exc:
                raise fail(f"{file}: {exc.message}; nothing was imported") from exc
    r = outcome.record
    out.print(
        f"{file.name} ({r.format}): {r.rows_read} rows, {r.values_parsed} values; "
        f"stored {r.values_stored}, duplicates {r.duplicates}, conflicts {r.conflicts}"
    )
    for kind in ("repaired", "rejected", "skipped"):
        counts = r.report.get(kind) or {}
        if counts:
            out.print(f"  {kind}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for s in outcome.series:
        out.print(
            f"  {s['market']}/{s['area']}/{s['product']}/{s['series']} [{s['unit']}]: "
            f"{s['values']} values, {s['first_start']:%Y-%m-%d %H:%M} .. "
            f"{s['last_start']:%Y-%m-%d %H:%M} UTC"
        )


@market_app.command("series")
def series(
    org: Annotated[str, typer.Option(help="organization slug or id")],
    market: Annotated[str | None, typer.Option(help="only this market")] = None,
) -> None:
    """List the stored market data series with their ranges."""
    with runtime() as rt:
        organization_id = find_organization(rt, org)
        found = rt.market_data.catalog(rt.uow(readonly=True), organization_id, market)
    table = Table("market", "area", "product", "series", "unit", "min", "values", "first", "last")
    for s in found:
        table.add_row(
            s.key.market,
            s.key.area,
            s.key.product,
            s.key.series,
            s.unit,
            str(s.period_min),
            str(s.values),
            f"{s.first_start:%Y-%m-%d %H:%M}",
            f"{s.last_start:%Y-%m-%d %H:%M}",
        )
    out.print(table)


@market_app.command("check")
def check_file(
    file: Annotated[Path, typer.Argument(help="market file (YAML), like markets/presets/*.yaml")],
) -> None:
    """Validate a user-defined market file; list its markets and products. Load it with
    OPENVPP_MARKET_FILES."""
    try:
        markets = load_market_file(file)
    except (ValidationFailed, OSError) as exc:
        raise fail(f"{file}: {getattr(exc, 'message', exc)}") from exc
    shipped = [code for code in markets if code in load_presets()]
    if shipped:
        raise fail(f"{file}: {shipped} are shipped presets; choose other codes")
    for market in markets.values():
        products = ", ".join(f"{p.code} ({p.period_min} min)" for p in market.products)
        out.print(
            f"{market.code}: {market.name}; {market.venue.value}, {market.time_zone}, "
            f"{market.currency}, prices {market.price_limits.min}..{market.price_limits.max}; "
            f"products {products}"
        )


@market_app.command("rotate-credentials")
def rotate_credentials() -> None:
    """Re-encrypt every connection's credentials with the current master key (after moving
    the old key to OPENVPP_PREVIOUS_SECRET_KEYS)."""
    with runtime() as rt:
        count, unreadable = rt.connections.rotate_credentials(rt.uow(CLI_CONTEXT))
    out.print(f"re-encrypted the credentials of {count} connection(s)")
    if unreadable:
        raise fail(
            f"no configured key opens the credentials of {len(unreadable)} connection(s): "
            f"{', '.join(unreadable)}; set new credentials on them"
        )
