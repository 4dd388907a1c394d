"""market data (values with the time they became known), imports, venue connections and
their health checks

Revision 0006, after 0005.
"""

import sqlalchemy as sa
from alembic import op

from openvpp.store.types import JSONText, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "market_connections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=True),
        sa.Column("markets", JSONText(), nullable=False),
        sa.Column("options", JSONText(), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_changed_at", UTCDateTime(), nullable=True),
        sa.Column("last_checked_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_market_connections_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_connections")),
        sa.UniqueConstraint(
            "organization_id", "name", name=op.f("uq_market_connections_organization_id")
        ),
    )
    op.create_table(
        "market_data_imports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("values_parsed", sa.Integer(), nullable=False),
        sa.Column("values_stored", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("conflicts", sa.Integer(), nullable=False),
        sa.Column("report", JSONText(), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column("imported_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_market_data_imports_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_data_imports")),
    )
    with op.batch_alter_table("market_data_imports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_market_data_imports_org_time", ["organization_id", "imported_at"], unique=False
        )

    op.create_table(
        "market_connection_checks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("connection_id", sa.String(length=36), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["market_connections.id"],
            name=op.f("fk_market_connection_checks_connection_id_market_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_connection_checks")),
    )
    with op.batch_alter_table("market_connection_checks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_market_connection_checks_conn_time", ["connection_id", "checked_at"], unique=False
        )

    op.create_table(
        "market_data",
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("area", sa.String(length=32), nullable=False),
        sa.Column("product", sa.String(length=32), nullable=False),
        sa.Column("series", sa.String(length=64), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("known_at", UTCDateTime(), nullable=False),
        sa.Column("period_min", sa.Integer(), nullable=False),
        sa.Column("value", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("import_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["market_data_imports.id"],
            name=op.f("fk_market_data_import_id_market_data_imports"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_market_data_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint(
            "organization_id",
            "market",
            "area",
            "product",
            "series",
            "start",
            "known_at",
            name=op.f("pk_market_data"),
        ),
    )
    with op.batch_alter_table("market_data", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_market_data_import_id"), ["import_id"], unique=False)


def downgrade() -> None:
    # dropping a table drops its indexes (MariaDB refuses to drop one a foreign key needs)
    op.drop_table("market_data")
    op.drop_table("market_connection_checks")
    op.drop_table("market_data_imports")
    op.drop_table("market_connections")
