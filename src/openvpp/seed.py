"""Demo data for ``openvpp db seed``: one organization with a user per role and, for the demo,
the industrial park (``openvpp.demo.park``). Idempotent."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from importlib.resources import files
from zoneinfo import ZoneInfo

from openvpp.audit.chain import AuditContext
from openvpp.core.errors import NotFound
from openvpp.demo import DEMO_SLUG
from openvpp.demo.live_market import (
    LIVE_MARKET,
    LIVE_PRODUCT,
    SEEDED_DAYS,
    published_frame,
)
from openvpp.demo.park import AREA, seed_park
from openvpp.forecasting.protocol import ModelKind
from openvpp.identity.model import Organization, Principal, Role
from openvpp.markets.connections import ConnectionSpec
from openvpp.markets.presets import load_presets
from openvpp.ops.model import LogLevel, Severity
from openvpp.runtime import Runtime
from openvpp.runtime_demo import store_demo_prices
from openvpp.trading.autobid_service import MAX_LEAD_MIN, SettingSpec

DEMO_DOMAIN = "demo.openvpp.org"
DEMO_PRICES = "epftoolbox_PJM_2018-12-11_24.csv"


@dataclass(frozen=True)
class SeedResult:
    created: bool
    organization_id: str
    users: list[str]


def seed_demo(rt: Runtime, *, park: bool = False) -> SeedResult:
    """The demo organization and its users; with ``park``, also the industrial park's
    resources, VPPs and three days of telemetry (``openvpp db seed`` does)."""
    system = AuditContext(actor_type="system", actor_id="seed")
    try:
        existing: Organization | None = rt.identity.organization_by_slug(
            rt.uow(readonly=True), DEMO_SLUG
        )
    except NotFound:
        existing = None
    emails = [f"{role.value}@{DEMO_DOMAIN}" for role in Role]
    if existing is not None:
        return SeedResult(False, existing.id, emails)
    org = rt.identity.create_organization(rt.uow(system), "Demo Energy Cooperative", DEMO_SLUG)
    password = rt.settings.demo_password.get_secret_value()
    admin_id = ""
    for role, email in zip(Role, emails, strict=True):
        user = rt.identity.create_user(
            rt.uow(system),
            organization_id=org.id,
            email=email,
            password=password,
            display_name=f"Demo {role.value}",
            roles=frozenset({role}),
        )
        admin_id = admin_id or user.id
    actor = Principal(
        kind="user",
        id=admin_id,
        organization_id=org.id,
        roles=frozenset({Role.ADMIN}),
        user_id=admin_id,
    )
    rt.ops.raise_alert(
        rt.uow(system),
        actor,
        severity=Severity.INFO,
        source="seed",
        title="Welcome to OpenVPP",
        message="Demo organization created; log in as admin@demo.openvpp.org.",
    )
    rt.ops.log_operation(
        rt.uow(system),
        actor,
        level=LogLevel.INFO,
        category="platform",
        message="demo data seeded",
        details={"users": len(emails)},
        request_id=None,
    )
    if park:
        park_result = seed_park(rt, actor, rt.clock.now())
        seed_markets(rt, actor, system)
        seed_models(rt, actor, system)
        seed_live_trading(rt, actor, system, park_result.vpps[0])
    return SeedResult(True, org.id, emails)


def seed_live_trading(rt: Runtime, actor: Principal, system: AuditContext, vpp_id: str) -> None:
    """The demo's live market (:mod:`openvpp.demo.live_market`): three weeks of the cycled
    PJM prices up to what is published now, stored for the park's market area, and automatic
    bidding of the VPP ``vpp_id`` (Park Energy: PV, wind and a battery) on ``US-ISO-DA``/``H``
    through the simulated exchange, deciding each day as soon as its gate is less than two
    days away. With ``OPENVPP_DEMO_LIVE_MARKET`` (``make run``) the exchange clears these days
    against the same prices."""
    context = replace(system, organization_id=actor.organization_id)
    product = load_presets()[LIVE_MARKET].product(LIVE_PRODUCT)
    now = rt.clock.now()
    today = now.astimezone(ZoneInfo(product.time_zone)).date()
    first = today - timedelta(days=SEEDED_DAYS)
    # the day-ahead prices published by now, and the real-time leg of the days' settlement:
    # synthetic imbalance prices through tomorrow; the server's demo feed goes on from there
    frame = published_frame(
        load_presets()[LIVE_MARKET], product, AREA, now, prices_from=first, imbalance_from=first
    )
    assert frame is not None  # three weeks of past days are always due
    store_demo_prices(rt, rt.uow(context), actor.organization_id, frame)
    connection = next(
        c
        for c in rt.connections.all(rt.uow(context, readonly=True), actor)
        if c.kind == "simulated"
    )
    rt.autobid.set_settings(
        rt.uow(context),
        actor,
        SettingSpec(
            vpp_id=vpp_id,
            market=LIVE_MARKET,
            product=LIVE_PRODUCT,
            enabled=True,
            strategy="schedule",
            connection_id=connection.id,
            lead_min=MAX_LEAD_MIN,
            margin_min=15,
        ),
    )


def seed_markets(rt: Runtime, actor: Principal, system: AuditContext) -> None:
    """Two weeks of real PJM day-ahead prices (``US-ISO-DA``/``PJM``) and a connection to the
    in-process simulated exchange for every preset market."""
    sample = files("openvpp.demo").joinpath(DEMO_PRICES)
    context = replace(system, organization_id=actor.organization_id)
    rt.market_data.import_file(
        rt.uow(context),
        actor.organization_id,
        sample.read_bytes(),
        fmt="epftoolbox",
        options={
            "market": "US-ISO-DA",
            "area": "PJM",
            "time_zone": "America/New_York",  # the file's hours are Eastern wall time
            "unit": "USD/MWh",
            "publication_time": "13:30",
            "publication_time_zone": "America/New_York",
        },
        source=DEMO_PRICES,
        actor=None,
    )
    rt.connections.create(
        rt.uow(context),
        actor,
        ConnectionSpec(
            name="Simulated exchange",
            kind="simulated",
            markets=sorted(load_presets()),
            credentials={"api_key": secrets.token_urlsafe(24)},
        ),
    )


PJM = {"market": "US-ISO-DA", "area": "PJM", "product": "H"}
DEMO_MODELS: tuple[tuple[str, ModelKind, str, dict[str, object]], ...] = (
    ("PJM day-ahead price (LEAR + LightGBM)", ModelKind.PRICE, "day_ahead_price", {}),
    ("PJM day-ahead price (weekly naive)", ModelKind.PRICE, "seasonal_naive",
     {"season_hours": 168}),
    ("PJM price risk", ModelKind.RISK, "historical_risk", {"alpha": 0.95}),
)  # fmt: skip


def seed_models(rt: Runtime, actor: Principal, system: AuditContext) -> None:
    """Three registered models on the demo PJM prices, each trained once on all but the last
    day (version 1, two hold-out days) and asked for the last day as of the afternoon before
    (a stored prediction whose live accuracy is known at once)."""
    org = actor.organization_id
    context = replace(system, organization_id=org)
    source = {
        "type": "market_data",
        "target": {**PJM, "series": "price"},
        "exogenous": {"load_forecast": {**PJM, "series": "system_load_forecast"}},
    }
    with rt.uow(readonly=True) as uow:
        stored = [i for i in uow.market_data.catalog(org, PJM["market"]) if i.key.series == "price"]
    if not stored:
        return
    # train on all but the last day; forecast the last day as issued the afternoon before
    # (after the auction published its load forecast), so its accuracy is known at once
    start, last = stored[0].first_start, stored[0].last_start - timedelta(hours=23)
    issued = last - timedelta(hours=10)
    window = {
        "train_start": start.isoformat(),
        "train_end": last.isoformat(),
        "as_of": issued.isoformat(),
        "holdout_days": 2,
    }
    for name, kind, algorithm, params in DEMO_MODELS:
        model = rt.models.create(
            rt.uow(context), org, actor.user_id, name=name, kind=kind, algorithm=algorithm,
            params=params, data_source=source,
        )  # fmt: skip
        rt.models.train(
            lambda: rt.uow(context), org, {"model_id": model.id, **window}, None,
            lambda _f, _m: None,
        )  # fmt: skip
        rt.predictions.predict(
            rt.uow(readonly=True), rt.uow(context), org, actor.user_id, model.id,
            last, last + timedelta(days=1), issued_at=issued,
        )  # fmt: skip
