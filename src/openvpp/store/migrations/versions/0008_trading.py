"""trading: orders (idempotent by client order id), their event log, fills (one per trade),
fill cursors per connection, risk limits and trading states (the kill switch)

Revision 0008, after 0007.
"""

import sqlalchemy as sa
from alembic import op

from openvpp.store.types import JSONText, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.String(length=36)
MONEY = sa.Numeric(24, 8)


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_organization_id_organizations"),
    )


def upgrade() -> None:
    op.create_table(
        "trading_orders",
        sa.Column("id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("vpp_id", ID, nullable=False),
        sa.Column("connection_id", ID, nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("product", sa.String(length=32), nullable=False),
        sa.Column("delivery_start", UTCDateTime(), nullable=False),
        sa.Column("gate_closure", UTCDateTime(), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("order_type", sa.String(length=16), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("quantity", MONEY, nullable=False),
        sa.Column("filled", MONEY, nullable=False),
        sa.Column("filled_value", MONEY, nullable=False),
        sa.Column("avg_price", MONEY, nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("venue_order_id", sa.String(length=64), nullable=True),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("reject_reason", sa.String(length=500), nullable=True),
        sa.Column("risk_rule", sa.String(length=40), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("decision_id", ID, nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _org_fk("trading_orders"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_orders")),
        sa.UniqueConstraint(
            "organization_id", "client_order_id", name="uq_trading_orders_org_client_order_id"
        ),
    )
    op.create_index(
        "ix_trading_orders_org_created", "trading_orders", ["organization_id", "created_at"]
    )
    op.create_index(
        "ix_trading_orders_exposure",
        "trading_orders",
        ["organization_id", "vpp_id", "market", "delivery_start"],
    )
    op.create_index("ix_trading_orders_state", "trading_orders", ["state"])
    op.create_table(
        "trading_order_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("detail", JSONText(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["trading_orders.id"],
            name=op.f("fk_trading_order_events_order_id_trading_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_order_events")),
    )
    op.create_index("ix_trading_order_events_order", "trading_order_events", ["order_id", "id"])
    op.create_table(
        "trading_fills",
        sa.Column("id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("connection_id", ID, nullable=False),
        sa.Column("trade_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", ID, nullable=True),
        sa.Column("vpp_id", ID, nullable=True),
        sa.Column("venue_order_id", sa.String(length=64), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("product", sa.String(length=32), nullable=False),
        sa.Column("delivery_start", UTCDateTime(), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("quantity", MONEY, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("executed_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        _org_fk("trading_fills"),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["trading_orders.id"],
            name=op.f("fk_trading_fills_order_id_trading_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_fills")),
        sa.UniqueConstraint("connection_id", "trade_id", name="uq_trading_fills_connection_trade"),
    )
    op.create_index(
        "ix_trading_fills_org_executed", "trading_fills", ["organization_id", "executed_at"]
    )
    op.create_index("ix_trading_fills_order", "trading_fills", ["order_id"])
    op.create_table(
        "trading_fill_cursors",
        sa.Column("connection_id", ID, nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("connection_id", name=op.f("pk_trading_fill_cursors")),
    )
    op.create_table(
        "trading_limits",
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("vpp_id", ID, nullable=False),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("limits", JSONText(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        _org_fk("trading_limits"),
        sa.PrimaryKeyConstraint(
            "organization_id", "vpp_id", "market", name=op.f("pk_trading_limits")
        ),
    )
    op.create_table(
        "trading_states",
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("scope", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("changed_by", sa.String(length=64), nullable=True),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        _org_fk("trading_states"),
        sa.PrimaryKeyConstraint("organization_id", "scope", name=op.f("pk_trading_states")),
    )


def downgrade() -> None:
    op.drop_table("trading_states")
    op.drop_table("trading_limits")
    op.drop_table("trading_fill_cursors")
    op.drop_table("trading_fills")
    op.drop_table("trading_order_events")
    op.drop_table("trading_orders")
