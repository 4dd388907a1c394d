"""model registry: models, immutable versions with artifacts, prediction runs and points

Revision 0007, after 0006.
"""

import sqlalchemy as sa
from alembic import op

from openvpp.store.types import JSONText, UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ai_models",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("active_name", sa.String(length=100), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("algorithm", sa.String(length=40), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("params", JSONText(), nullable=False),
        sa.Column("data_source", JSONText(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_ai_models_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_models")),
        sa.UniqueConstraint(
            "organization_id", "active_name", name=op.f("uq_ai_models_organization_id")
        ),
    )
    op.create_table(
        "ai_model_versions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("algorithm", sa.String(length=40), nullable=False),
        sa.Column("params", JSONText(), nullable=False),
        sa.Column("data_source", JSONText(), nullable=False),
        sa.Column("train_start", UTCDateTime(), nullable=False),
        sa.Column("train_end", UTCDateTime(), nullable=False),
        sa.Column("data_as_of", UTCDateTime(), nullable=False),
        sa.Column("metrics", JSONText(), nullable=False),
        sa.Column("artifact", sa.String(length=500), nullable=True),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=True),
        sa.Column("artifact_bytes", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("trained_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"], ["ai_models.id"], name=op.f("fk_ai_model_versions_model_id_ai_models")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_ai_model_versions_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_model_versions")),
        sa.UniqueConstraint("model_id", "version", name=op.f("uq_ai_model_versions_model_id")),
    )
    op.create_table(
        "ai_prediction_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("horizon_start", UTCDateTime(), nullable=False),
        sa.Column("horizon_end", UTCDateTime(), nullable=False),
        sa.Column("step_s", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"], ["ai_models.id"], name=op.f("fk_ai_prediction_runs_model_id_ai_models")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_ai_prediction_runs_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["ai_model_versions.id"],
            name=op.f("fk_ai_prediction_runs_version_id_ai_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_prediction_runs")),
    )
    with op.batch_alter_table("ai_prediction_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ai_prediction_runs_model_issued", ["model_id", "issued_at"], unique=False
        )
    op.create_table(
        "ai_predictions",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("target_start", UTCDateTime(), nullable=False),
        sa.Column("p10", sa.Double(), nullable=False),
        sa.Column("p50", sa.Double(), nullable=False),
        sa.Column("p90", sa.Double(), nullable=False),
        sa.Column("extra", JSONText(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["ai_prediction_runs.id"],
            name=op.f("fk_ai_predictions_run_id_ai_prediction_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "target_start", name=op.f("pk_ai_predictions")),
    )


def downgrade() -> None:
    op.drop_table("ai_predictions")
    op.drop_table("ai_prediction_runs")  # drops its index with it
    op.drop_table("ai_model_versions")
    op.drop_table("ai_models")
