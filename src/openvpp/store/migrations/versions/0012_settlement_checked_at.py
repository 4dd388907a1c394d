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
    # a plain DROP COLUMN (SQLite 3.35+): a batch rebuild of the table would drop it, and the
    # foreign key's ON DELETE CASCADE would take every settlement interval row with it
    op.drop_column("settlement_runs", "checked_at")
