"""telemetry

Revision 0003, after 0002.
"""

import sqlalchemy as sa
from alembic import op

import openvpp.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "telemetry",
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("ts", openvpp.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("power_mw", sa.Float(), nullable=False),
        sa.Column("soc", sa.Float(), nullable=True),
        sa.Column("received_at", openvpp.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_telemetry_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("resource_id", "ts", name=op.f("pk_telemetry")),
    )


def downgrade() -> None:
    op.drop_table("telemetry")
