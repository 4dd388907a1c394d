"""trading order counts: the orders that passed risk per VPP, market and time step

Revision 0014, after 0013. The order-rate limits (per second, per minute) counted the VPP's
accepted orders of the window on every submission: at 500 orders/s, 30,000 rows per check.
Orders are now counted into 10-ms and 1-s steps in the transaction that inserts them, and the
check sums at most 101 and 61 of those rows. The orders of the last two minutes are counted
here, so the limits hold across the upgrade.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from openvpp.store.types import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ID = sa.String(length=36)
STEPS_MS = (10, 1000)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def upgrade() -> None:
    table = op.create_table(
        "trading_order_counts",
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("vpp_id", ID, nullable=False),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("step_ms", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("step", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_trading_order_counts_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint(
            "organization_id",
            "vpp_id",
            "market",
            "step_ms",
            "step",
            name=op.f("pk_trading_order_counts"),
        ),
    )
    o = sa.table(
        "trading_orders",
        sa.column("organization_id"),
        sa.column("vpp_id"),
        sa.column("market"),
        sa.column("risk_rule"),
        sa.column("created_at", UTCDateTime()),
    )
    since = datetime.now(UTC) - timedelta(minutes=2)
    recent = op.get_bind().execute(
        sa.select(o.c.organization_id, o.c.vpp_id, o.c.market, o.c.created_at).where(
            o.c.created_at >= since, o.c.risk_rule.is_(None)
        )
    )
    counts = Counter[tuple[str, str, str, int, int]]()
    for org, vpp, market, at in recent:
        for step_ms in STEPS_MS:
            counts[
                (org, vpp, market, step_ms, (at - EPOCH) // timedelta(milliseconds=step_ms))
            ] += 1
    names = ("organization_id", "vpp_id", "market", "step_ms", "step")
    rows = [{**dict(zip(names, key, strict=True)), "orders": n} for key, n in counts.items()]
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("trading_order_counts")
