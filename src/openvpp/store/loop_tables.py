"""Tables of the trading and dispatch loop (migration 0009): auto-trading settings, automatic
bidding decisions, dispatch instructions and VPP monitoring records. Registered on the same
``metadata`` as :mod:`openvpp.store.tables`."""

from __future__ import annotations

import sqlalchemy as sa

from openvpp.store.tables import ID, metadata
from openvpp.store.types import JSONText, UTCDateTime

auto_trading = sa.Table(
    "auto_trading",
    metadata,
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), primary_key=True),
    sa.Column("vpp_id", ID, primary_key=True),
    sa.Column("market", sa.String(32), primary_key=True),
    sa.Column("product", sa.String(32), primary_key=True),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("strategy", sa.String(16), nullable=False),
    sa.Column("connection_id", ID, nullable=True),
    sa.Column("price_model_id", ID, nullable=True),
    sa.Column("lead_min", sa.Integer(), nullable=False),
    sa.Column("margin_min", sa.Integer(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=True),
)

bid_decisions = sa.Table(
    "bid_decisions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("vpp_id", ID, nullable=False),
    sa.Column("market", sa.String(32), nullable=False),
    sa.Column("product", sa.String(32), nullable=False),
    # the market's local delivery day, ISO date: one decision per day (the unique key makes
    # a second scheduler or a retried job a no-op)
    sa.Column("delivery_day", sa.String(10), nullable=False),
    sa.Column("gate_closure", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("strategy", sa.String(16), nullable=False),
    sa.Column("inputs", JSONText(), nullable=False),
    sa.Column("result", JSONText(), nullable=False),
    sa.Column("orders", JSONText(), nullable=False),
    sa.Column("error", sa.String(1000), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint(
        "organization_id",
        "vpp_id",
        "market",
        "product",
        "delivery_day",
        name="uq_bid_decisions_day",
    ),
    sa.Index("ix_bid_decisions_org_created", "organization_id", "created_at"),
)

dispatch_instructions = sa.Table(
    "dispatch_instructions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # the setpoint's instruction id
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("vpp_id", ID, nullable=False),
    sa.Column("resource_id", ID, nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("p_mw", sa.Double(), nullable=False),
    sa.Column("valid_from", UTCDateTime(), nullable=False),
    sa.Column("valid_until", UTCDateTime(), nullable=False),
    sa.Column("fallback_mw", sa.Double(), nullable=False),
    sa.Column("issued_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("acked_at", UTCDateTime(), nullable=True),
    sa.Column("reason", sa.String(500), nullable=True),
    sa.UniqueConstraint("resource_id", "seq", name="uq_dispatch_instructions_resource_seq"),
    sa.Index("ix_dispatch_instructions_vpp_from", "organization_id", "vpp_id", "valid_from"),
)

monitoring_records = sa.Table(
    "monitoring_records",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("vpp_id", ID, nullable=False),
    sa.Column("resource_id", sa.String(36), nullable=False),  # "" for the VPP's total
    sa.Column("interval_start", UTCDateTime(), nullable=False),
    sa.Column("interval_min", sa.Integer(), nullable=False),
    sa.Column("scheduled_mw", sa.Double(), nullable=False),
    sa.Column("metered_mw", sa.Double(), nullable=True),
    sa.Column("deviation_mw", sa.Double(), nullable=True),
    sa.Column("deviation_mwh", sa.Double(), nullable=True),
    sa.Column("coverage", sa.Double(), nullable=False),
    sa.Column("severity", sa.String(16), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint(
        "vpp_id", "resource_id", "interval_start", name="uq_monitoring_records_interval"
    ),
    sa.Index("ix_monitoring_records_org_vpp_start", "organization_id", "vpp_id", "interval_start"),
)
