"""``openvpp exchange``: the simulated exchange as an HTTP service."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from openvpp.core.clock import SystemClock
from openvpp.markets.clearing.auction import PriceRule
from openvpp.markets.exchange import FaultInjector, SimulatedExchange, parse_fault
from openvpp.markets.presets import load_presets

exchange_app = typer.Typer(
    help="Simulated exchange (HTTP) for trading without a real market.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)


@exchange_app.callback()
def _group() -> None:
    """Simulated exchange (HTTP) for trading without a real market."""


@exchange_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8700,
    api_key: Annotated[
        list[str] | None,
        typer.Option("--api-key", help="API key (repeatable) as KEY or KEY=ACCOUNT"),
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            help="fault rule MODE[,endpoints=a+b][,probability=P][,count=N][,status=S]"
            "[,delay_s=T][,retry_after_s=T][,size_bytes=B] (repeatable)",
        ),
    ] = None,
    price_rule: Annotated[
        PriceRule, typer.Option(help="clearing price rule of pay-as-clear auctions")
    ] = PriceRule.SUPPLY_MARGINAL,
    tick_interval: Annotated[
        float, typer.Option(help="seconds between automatic gate-closure checks")
    ] = 1.0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
) -> None:
    """Serve the simulated exchange over HTTP with the built-in market presets and the system
    clock (API key header: X-API-Key; default key 'test-key')."""
    import uvicorn

    from openvpp.markets.exchange.http_app import create_app

    keys: dict[str, str] = {}
    for item in api_key or ["test-key"]:
        key, _, account = item.partition("=")
        keys[key] = account or key
    try:
        specs = [parse_fault(text) for text in fault or []]
    except ValueError as exc:
        err.print(f"[red]error:[/red] --fault: {exc}")
        raise typer.Exit(2) from None
    exchange = SimulatedExchange(
        load_presets(), SystemClock(), api_keys=keys, price_rule=price_rule
    )
    app = create_app(exchange, FaultInjector(specs), tick_interval_s=tick_interval)
    out.print(f"OpenVPP simulated exchange on http://{host}:{port}/v1", highlight=False)
    if specs:
        out.print("faults: " + ", ".join(s.mode.value for s in specs), highlight=False)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)


if __name__ == "__main__":  # ``python -m openvpp.cli.exchange serve ...``
    exchange_app()
