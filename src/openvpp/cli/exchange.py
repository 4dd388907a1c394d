"""``openvpp exchange``: the simulated exchange as an HTTP service, optionally replaying
historical prices (``--replay``) with a venue clock running in the past (``--clock-start``)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import pandas as pd
import typer
from rich.console import Console

from openvpp.api.heap import HeapPolicy
from openvpp.config import Settings
from openvpp.core.clock import Clock, SystemClock
from openvpp.core.errors import DomainError
from openvpp.markets.clearing.auction import PriceRule
from openvpp.markets.data import FORMATS, MarketDataError, detect_format, read_market_file
from openvpp.markets.exchange import (
    FaultInjector,
    ImbalanceConfig,
    ResidualBookParams,
    SimulatedExchange,
    parse_fault,
)
from openvpp.markets.imbalance import ImbalanceModel, PriceScheme
from openvpp.markets.model import Market
from openvpp.markets.presets import load_presets

exchange_app = typer.Typer(
    help="Simulated exchange (HTTP) for trading without a real market.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)


@exchange_app.callback()
def _group() -> None:
    """Simulated exchange (HTTP) for trading without a real market."""


class ShiftedClock:
    """The system clock moved to start at ``start`` [UTC]: it runs at real speed from there."""

    def __init__(self, start: datetime, base: Clock | None = None) -> None:
        self.base = base or SystemClock()
        self.offset = start - self.base.now()

    def now(self) -> datetime:
        return self.base.now() + self.offset


def _fail(option: str, message: object) -> typer.Exit:
    err.print(f"[red]error:[/red] {option}: {message}", highlight=False)
    return typer.Exit(2)


def _option_value(text: str) -> object:
    return int(text) if text.lstrip("-").isdigit() else text


def load_replay_series(
    path: Path,
    fmt: str | None,
    market: str,
    product: str,
    area: str | None,
    settings: list[str],
) -> tuple[pd.Series, str, str]:
    """The ``price`` series [currency/MWh] of ``market`` (and ``area``) in a market data file,
    indexed by UTC interval starts (the latest revision of each interval), with the format and
    area. ``ValueError`` naming what is wrong."""
    options: dict[str, object] = {}
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--replay-set expects NAME=VALUE, got {item!r}")
        options[name] = _option_value(value)
    try:
        fmt = fmt or detect_format(path.read_bytes(), path.name)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None
    spec = FORMATS.get(fmt)
    if spec is None:
        raise ValueError(f"unknown format {fmt!r}, expected one of {sorted(FORMATS)}")
    if "market" in spec.options:
        options.setdefault("market", market)
    if area is not None and "area" in spec.options:
        options.setdefault("area", area)
    frame = read_market_file(path, fmt, **options).frame
    rows = frame[(frame["series"] == "price") & (frame["market"] == market)]
    if area is not None:
        rows = rows[rows["area"] == area]
    areas = sorted(rows["area"].unique())
    if not areas:
        raise ValueError(f"no price series for market {market} area {area or 'any'} in {path}")
    if len(areas) > 1:
        raise ValueError(f"several areas {areas}: choose one with --replay-area")
    products = sorted(rows["product"].unique())
    if product in products:
        rows = rows[rows["product"] == product]
    elif len(products) > 1:
        raise ValueError(f"several products {products}, none is {product}")
    rows = rows.sort_values("known_at", kind="stable").drop_duplicates("start", keep="last")
    series = pd.Series(
        rows["value"].to_numpy(dtype=float), index=pd.DatetimeIndex(rows["start"]), name="price"
    ).sort_index()
    return series, fmt, str(areas[0])


def default_clock_start(market: Market, first: pd.Timestamp) -> datetime:
    """Midnight (market time) of the day before the first history interval's local day [UTC]:
    the gates of every replayed day are still open there."""
    zone = ZoneInfo(market.time_zone)
    day = first.to_pydatetime().astimezone(zone).date() - timedelta(days=1)
    return datetime.combine(day, time(0), zone).astimezone(UTC)


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
    replay: Annotated[
        Path | None, typer.Option(help="market data file whose price series is replayed")
    ] = None,
    replay_format: Annotated[
        str | None, typer.Option(help="format of --replay (default: detected)")
    ] = None,
    replay_market: Annotated[str, typer.Option(help="market the history belongs to")] = "EU-SDAC",
    replay_product: Annotated[str, typer.Option(help="auction product to replay")] = "H",
    replay_area: Annotated[
        str | None, typer.Option(help="area of the price series (filter; epftoolbox option)")
    ] = None,
    replay_set: Annotated[
        list[str] | None,
        typer.Option("--replay-set", help="reader option NAME=VALUE (repeatable)"),
    ] = None,
    residual_depth: Annotated[
        int | None,
        typer.Option(
            help="residual book depth [lots]; enables the residual book (else price taker)"
        ),
    ] = None,
    residual_steps: Annotated[int, typer.Option(help="residual steps per side")] = 20,
    residual_step_lots: Annotated[int, typer.Option(help="width of a step [lots]")] = 10,
    residual_step_ticks: Annotated[int, typer.Option(help="spacing of steps [ticks]")] = 100,
    residual_seed: Annotated[int | None, typer.Option(help="seed of the step noise")] = None,
    residual_noise: Annotated[float, typer.Option(help="relative noise on step widths")] = 0.0,
    imbalance_seed: Annotated[int, typer.Option(help="seed of synthetic imbalance prices")] = 0,
    imbalance_scheme: Annotated[
        PriceScheme, typer.Option(help="single or dual imbalance pricing")
    ] = PriceScheme.SINGLE,
    clock_start: Annotated[
        datetime | None,
        typer.Option(
            help="run the venue clock from this UTC instant (default with --replay: midnight "
            "before the first history day)",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
        ),
    ] = None,
) -> None:
    """Serve the simulated exchange over HTTP with the built-in market presets and the system
    clock (API key header: X-API-Key; default key 'test-key'). With --replay the auctions of
    --replay-market/--replay-product clear against the file's price history."""
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
    try:
        imbalance = ImbalanceConfig(ImbalanceModel(scheme=imbalance_scheme), seed=imbalance_seed)
    except ValueError as exc:
        raise _fail("--imbalance-seed", exc) from None
    markets = load_presets()
    clock: Clock = SystemClock()
    exchange = SimulatedExchange(
        markets, clock, api_keys=keys, price_rule=price_rule, imbalance=imbalance
    )
    lines: list[str] = []
    if replay is not None:
        first = _configure_replay(
            exchange,
            replay,
            replay_format,
            replay_market,
            replay_product,
            replay_area,
            replay_set or [],
            _residual(
                residual_depth,
                residual_steps,
                residual_step_lots,
                residual_step_ticks,
                residual_seed,
                residual_noise,
            ),
            lines,
        )
        if clock_start is None and first is not None:
            clock_start = default_clock_start(markets[replay_market], first)
    if clock_start is not None:
        start = clock_start if clock_start.tzinfo else clock_start.replace(tzinfo=UTC)
        exchange.clock = ShiftedClock(start.astimezone(UTC))
        lines.append(f"venue clock starts at {start.astimezone(UTC).isoformat()}")
    app = create_app(exchange, FaultInjector(specs), tick_interval_s=tick_interval)
    out.print(f"OpenVPP simulated exchange on http://{host}:{port}/v1", highlight=False)
    for line in lines:
        out.print(line, highlight=False, soft_wrap=True)
    if specs:
        out.print("faults: " + ", ".join(s.mode.value for s in specs), highlight=False)
    # as in the API server: the book of resting orders grows with every order, and without
    # freezing the survivors each full pass of the collector scanned it all (200 ms pauses
    # after a few minutes at 250 orders/s, the tail of every client's latency; api/heap.py)
    heap = HeapPolicy(Settings.model_fields["gc_sweep_s"].default)  # the API server's default
    heap.install()
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    finally:
        heap.uninstall()


def _residual(
    depth: int | None, steps: int, step_lots: int, step_ticks: int, seed: int | None, noise: float
) -> ResidualBookParams | None:
    if depth is None:
        return None
    try:
        return ResidualBookParams(depth, steps, step_lots, step_ticks, noise, seed)
    except ValueError as exc:
        raise _fail("--residual-*", exc) from None


def _configure_replay(
    exchange: SimulatedExchange,
    path: Path,
    fmt: str | None,
    market: str,
    product: str,
    area: str | None,
    settings: list[str],
    residual: ResidualBookParams | None,
    lines: list[str],
) -> pd.Timestamp | None:
    """Load the replay history into ``exchange``; returns the first interval start [UTC]."""
    if market not in exchange.markets:
        raise _fail("--replay-market", f"unknown market {market!r}")
    try:
        series, used, found_area = load_replay_series(path, fmt, market, product, area, settings)
        source = exchange.set_replay(market, product, series, residual=residual)
    except (ValueError, MarketDataError) as exc:
        raise _fail("--replay", exc) from None
    except DomainError as exc:
        raise _fail("--replay", exc.message) from None
    mode = (
        "price taker"
        if residual is None
        else f"residual book depth {residual.depth_lots} lots, {residual.steps} steps of "
        f"{residual.step_lots} lots / {residual.step_ticks} ticks"
    )
    first, last = source.first, source.last
    span = (
        "empty" if first is None or last is None else f"{first.isoformat()} .. {last.isoformat()}"
    )
    lines.append(
        f"replay {market}/{product}: series price, area {found_area}, {len(source.prices)} values "
        f"from {path.name} ({used}), {span}, every {source.period_min} min, "
        f"{source.rounded} rounded to the price tick; {mode}"
    )
    return first


if __name__ == "__main__":  # ``python -m openvpp.cli.exchange serve ...``
    exchange_app()
