"""vpps and device templates

Revision 0004, after 0003.
"""

import sqlalchemy as sa
from alembic import op

import openvpp.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_templates",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("defaults", openvpp.store.types.JSONText(), nullable=False),
        sa.Column("limits", openvpp.store.types.JSONText(), nullable=False),
        sa.Column("created_at", openvpp.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_device_templates_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_templates")),
        sa.UniqueConstraint(
            "organization_id", "key", "version", name=op.f("uq_device_templates_organization_id")
        ),
    )
    op.create_table(
        "grid_nodes",
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("market_area", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", openvpp.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_grid_nodes_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("organization_id", "code", name=op.f("pk_grid_nodes")),
    )
    op.create_table(
        "vpps",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("market_area", sa.String(length=40), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("created_at", openvpp.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", openvpp.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_vpps_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vpps")),
        sa.UniqueConstraint("organization_id", "name", name=op.f("uq_vpps_organization_id")),
    )
    op.create_table(
        "vpp_parameters",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("vpp_id", sa.String(length=36), nullable=False),
        sa.Column("effective_from", openvpp.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("parameters", openvpp.store.types.JSONText(), nullable=False),
        sa.Column("recorded_at", openvpp.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["vpp_id"], ["vpps.id"], name=op.f("fk_vpp_parameters_vpp_id_vpps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vpp_parameters")),
    )
    with op.batch_alter_table("vpp_parameters", schema=None) as batch_op:
        batch_op.create_index(
            "ix_vpp_parameters_vpp_from", ["vpp_id", "effective_from"], unique=False
        )

    op.create_table(
        "vpp_members",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("vpp_id", sa.String(length=36), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("share_pct", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.Column("valid_from", openvpp.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_to", openvpp.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", openvpp.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", openvpp.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resources.id"], name=op.f("fk_vpp_members_resource_id_resources")
        ),
        sa.ForeignKeyConstraint(
            ["vpp_id"], ["vpps.id"], name=op.f("fk_vpp_members_vpp_id_vpps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vpp_members")),
    )
    with op.batch_alter_table("vpp_members", schema=None) as batch_op:
        batch_op.create_index("ix_vpp_members_resource", ["resource_id"], unique=False)
        batch_op.create_index("ix_vpp_members_vpp", ["vpp_id"], unique=False)

    # Plain ALTER TABLE ADD COLUMN everywhere: a batch copy of ``resources`` on SQLite would
    # drop the table under its telemetry's ON DELETE CASCADE.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE resources ADD COLUMN device_template_id VARCHAR(36) "
            "CONSTRAINT fk_resources_device_template_id_device_templates "
            "REFERENCES device_templates (id)"
        )
    else:
        op.add_column("resources", sa.Column("device_template_id", sa.String(36), nullable=True))
        op.create_foreign_key(
            "fk_resources_device_template_id_device_templates",
            "resources",
            "device_templates",
            ["device_template_id"],
            ["id"],
        )
    op.add_column(
        "telemetry", sa.Column("fault", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("telemetry") as batch_op:
        batch_op.drop_column("fault")
    with op.batch_alter_table("resources") as batch_op:
        if op.get_bind().dialect.name != "sqlite":  # a SQLite batch copy drops it anyway
            batch_op.drop_constraint(
                "fk_resources_device_template_id_device_templates", type_="foreignkey"
            )
        batch_op.drop_column("device_template_id")
    op.drop_table("vpp_members")
    op.drop_table("vpp_parameters")
    op.drop_table("vpps")
    op.drop_table("grid_nodes")
    op.drop_table("device_templates")
