"""Demo data for ``openvpp db seed``: one organization with a user per role and, for the demo,
the industrial park (``openvpp.demo.park``). Idempotent."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from importlib.resources import files

from openvpp.audit.chain import AuditContext
from openvpp.core.errors import NotFound
from openvpp.demo.park import seed_park
from openvpp.identity.model import Organization, Principal, Role
from openvpp.markets.connections import ConnectionSpec
from openvpp.markets.presets import load_presets
from openvpp.ops.model import LogLevel, Severity
from openvpp.runtime import Runtime

DEMO_SLUG = "demo"
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
        seed_park(rt, actor, rt.clock.now())
        seed_markets(rt, actor, system)
    return SeedResult(True, org.id, emails)


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
