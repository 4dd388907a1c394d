"""resource instances

Revision 0002, after 0001.
"""

import sqlalchemy as sa
from alembic import op

import openvpp.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("parameters", openvpp.store.types.JSONText(), nullable=False),
        sa.Column("grid_node", sa.String(length=100), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "status_changed_at", openvpp.store.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("last_seen_at", openvpp.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", openvpp.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", openvpp.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_resources_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resources")),
    )
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.create_index(
            "ix_resources_org_type", ["organization_id", "resource_type"], unique=False
        )


def downgrade() -> None:
    op.drop_table("resources")
