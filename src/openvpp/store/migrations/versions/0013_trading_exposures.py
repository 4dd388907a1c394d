"""trading exposures: one row per VPP, market, product and delivery interval, kept current with
its orders

Revision 0013, after 0012. Every order submission's risk check needs the filled position and
the open volume per side of its delivery interval. Summed over the interval's orders, that
read grew with every order placed in it (hundreds per hour in continuous intraday trading);
the order writes now keep one row per interval current in their own transaction. Volumes are
integers of 1e-8 MW (exact on every database). The existing orders are summed into the new
rows here, and the exposure index no longer needs to cover the sums.
"""

from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

from openvpp.store.types import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ID = sa.String(length=36)
KEY = ["organization_id", "vpp_id", "market", "product", "delivery_start"]
INTERVAL = ["organization_id", "vpp_id", "market", "delivery_start"]
COVERED = ["product", "side", "state", "quantity", "filled"]
FINAL = ("filled", "cancelled", "rejected", "expired")  # the order states that hold no rest
SCALE = Decimal(10) ** 8


def _e8(value: Any) -> int:
    # SQLite hands NUMERIC back as a float: its shortest repr is the stored 8-decimal value
    return int((Decimal(str(value)) * SCALE).to_integral_value(ROUND_HALF_EVEN))


def _sums(conn: sa.Connection) -> Iterator[dict[str, Any]]:
    names = [k for k in KEY if k != "delivery_start"] + COVERED[1:]
    o = sa.table(
        "trading_orders",
        sa.column("delivery_start", UTCDateTime()),
        *(sa.column(c) for c in names),
    )
    rows = conn.execute(sa.select(o).execution_options(yield_per=5000))
    sums: dict[tuple[Any, ...], list[int]] = {}
    for r in rows.mappings():
        key = tuple(r[k] for k in KEY)
        acc = sums.setdefault(key, [0, 0, 0])
        filled, buy = _e8(r["filled"]), r["side"] == "buy"
        acc[0] += filled if buy else -filled
        if r["state"] not in FINAL:
            acc[1 if buy else 2] += _e8(r["quantity"]) - filled
    for key, (net, buy_rest, sell_rest) in sums.items():
        yield {
            **dict(zip(KEY, key, strict=True)),
            "net_filled": net,
            "open_buy": buy_rest,
            "open_sell": sell_rest,
        }


def upgrade() -> None:
    table = op.create_table(
        "trading_exposures",
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("vpp_id", ID, nullable=False),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("product", sa.String(length=32), nullable=False),
        sa.Column("delivery_start", UTCDateTime(), nullable=False),
        sa.Column("net_filled", sa.BigInteger(), nullable=False),
        sa.Column("open_buy", sa.BigInteger(), nullable=False),
        sa.Column("open_sell", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_trading_exposures_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_trading_exposures")),
    )
    rows = list(_sums(op.get_bind()))
    if rows:
        op.bulk_insert(table, rows)
    op.drop_index("ix_trading_orders_exposure", table_name="trading_orders")
    op.create_index("ix_trading_orders_interval", "trading_orders", INTERVAL)


def downgrade() -> None:
    op.drop_index("ix_trading_orders_interval", table_name="trading_orders")
    op.create_index("ix_trading_orders_exposure", "trading_orders", [*INTERVAL, *COVERED])
    op.drop_table("trading_exposures")
