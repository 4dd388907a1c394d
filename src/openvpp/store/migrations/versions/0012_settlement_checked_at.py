"""settlement runs remember when a calculation last found their inputs unchanged

Revision 0012, after 0011. The settlement loop's final calculation (OPENVPP_SETTLEMENT_REVISION_H
after a day's end) is due for every day whose latest run was stored before that time. A
calculation on unchanged inputs stores no version, so the loop remembered such days in memory
and a restarted server calculated them once more; ``checked_at`` stores that check instead.
"""

import sqlalchemy as sa
from alembic import op

from openvpp.store.types import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("settlement_runs", sa.Column("checked_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("settlement_runs") as batch:
        batch.drop_column("checked_at")
