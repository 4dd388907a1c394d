"""telemetry without a foreign key to resources

Revision 0005, after 0004. The per-row check halved bulk ingest into PostgreSQL; ingest now
share-locks a batch's resources once and a resource's deletion removes its telemetry.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

FK = "fk_telemetry_resource_id_resources"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("telemetry", recreate="always") as batch_op:
            batch_op.drop_constraint(FK, type_="foreignkey")
    else:
        op.drop_constraint(FK, "telemetry", type_="foreignkey")


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM telemetry WHERE resource_id NOT IN (SELECT id FROM resources)"))
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("telemetry", recreate="always") as batch_op:
            batch_op.create_foreign_key(
                FK, "resources", ["resource_id"], ["id"], ondelete="CASCADE"
            )
    else:
        op.create_foreign_key(
            FK, "telemetry", "resources", ["resource_id"], ["id"], ondelete="CASCADE"
        )
