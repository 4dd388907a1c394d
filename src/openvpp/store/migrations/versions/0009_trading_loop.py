"""trading loop: auto-trading settings, automatic bidding decisions (one per VPP, market,
product and delivery day), dispatch instructions and VPP monitoring records

Revision 0009, after 0008.
"""

import sqlalchemy as sa
from alembic import op

from openvpp.store.types import JSONText, UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.String(length=36)


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_organization_id_organizations"),
    )


def upgrade() -> None:
    op.create_table(
        "auto_trading",
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("vpp_id", ID, nullable=False),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("product", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("connection_id", ID, nullable=True),
        sa.Column("price_model_id", ID, nullable=True),
        sa.Column("lead_min", sa.Integer(), nullable=False),
        sa.Column("margin_min", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        _org_fk("auto_trading"),
        sa.PrimaryKeyConstraint(
            "organization_id", "vpp_id", "market", "product", name=op.f("pk_auto_trading")
        ),
    )
    op.create_table(
        "bid_decisions",
        sa.Column("id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("vpp_id", ID, nullable=False),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("product", sa.String(length=32), nullable=False),
        sa.Column("delivery_day", sa.String(length=10), nullable=False),
        sa.Column("gate_closure", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("inputs", JSONText(), nullable=False),
        sa.Column("result", JSONText(), nullable=False),
        sa.Column("orders", JSONText(), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _org_fk("bid_decisions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bid_decisions")),
        sa.UniqueConstraint(
            "organization_id",
            "vpp_id",
            "market",
            "product",
            "delivery_day",
            name="uq_bid_decisions_day",
        ),
    )
    op.create_index(
        "ix_bid_decisions_org_created", "bid_decisions", ["organization_id", "created_at"]
    )
    op.create_table(
        "dispatch_instructions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("vpp_id", ID, nullable=False),
        sa.Column("resource_id", ID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("p_mw", sa.Double(), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.Column("fallback_mw", sa.Double(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("acked_at", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        _org_fk("dispatch_instructions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_instructions")),
        sa.UniqueConstraint("resource_id", "seq", name="uq_dispatch_instructions_resource_seq"),
    )
    op.create_index(
        "ix_dispatch_instructions_vpp_from",
        "dispatch_instructions",
        ["organization_id", "vpp_id", "valid_from"],
    )
    op.create_table(
        "monitoring_records",
        sa.Column("id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("vpp_id", ID, nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("interval_start", UTCDateTime(), nullable=False),
        sa.Column("interval_min", sa.Integer(), nullable=False),
        sa.Column("scheduled_mw", sa.Double(), nullable=False),
        sa.Column("metered_mw", sa.Double(), nullable=True),
        sa.Column("deviation_mw", sa.Double(), nullable=True),
        sa.Column("deviation_mwh", sa.Double(), nullable=True),
        sa.Column("coverage", sa.Double(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _org_fk("monitoring_records"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_records")),
        sa.UniqueConstraint(
            "vpp_id", "resource_id", "interval_start", name="uq_monitoring_records_interval"
        ),
    )
    op.create_index(
        "ix_monitoring_records_org_vpp_start",
        "monitoring_records",
        ["organization_id", "vpp_id", "interval_start"],
    )


def downgrade() -> None:
    # Dropping a table drops its indexes (MariaDB refuses to drop an index its foreign key
    # still needs, so no index is dropped on its own).
    op.drop_table("monitoring_records")
    op.drop_table("dispatch_instructions")
    op.drop_table("bid_decisions")
    op.drop_table("auto_trading")
