"""settlement: runs (one version per VPP, market and local day), their interval details per
VPP and resource, and the double-entry ledger (entries and postings)

Revision 0011, after 0010.
"""

import sqlalchemy as sa
from alembic import op

from openvpp.store.types import JSONText, UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ID = sa.String(length=36)
BIG = sa.BigInteger()
AMOUNTS = (
    "day_ahead",
    "intraday",
    "imbalance",
    "contract_for_difference",
    "deviation_penalty",
    "response_payment",
    "under_delivery_penalty",
    "fees",
    "total",
)


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_organization_id_organizations"),
    )


def upgrade() -> None:
    op.create_table(
        "settlement_runs",
        sa.Column("id", ID, nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("vpp_id", ID, nullable=False),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("area", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("input_hash", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("minor_unit", sa.String(length=16), nullable=False),
        sa.Column("energy_step_mwh", sa.String(length=16), nullable=False),
        sa.Column("intervals", sa.Integer(), nullable=False),
        sa.Column("resources", sa.Integer(), nullable=False),
        sa.Column("estimated_intervals", sa.Integer(), nullable=False),
        sa.Column("totals", JSONText(), nullable=False),
        sa.Column("total", BIG, nullable=False),
        sa.Column("inputs", JSONText(), nullable=False),
        sa.Column("prices", JSONText(), nullable=False),
        sa.Column("superseded_by", ID, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        _org_fk("settlement_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_runs")),
        sa.UniqueConstraint(
            "organization_id",
            "vpp_id",
            "market",
            "day",
            "version",
            name="uq_settlement_runs_version",
        ),
    )
    op.create_index("ix_settlement_runs_org_day", "settlement_runs", ["organization_id", "day"])
    op.create_table(
        "settlement_intervals",
        sa.Column("run_id", ID, nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("interval_start", UTCDateTime(), nullable=False),
        sa.Column("interval_min", sa.Integer(), nullable=False),
        sa.Column("scheduled", BIG, nullable=False),
        sa.Column("metered", BIG, nullable=False),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        *(sa.Column(name, BIG, nullable=False) for name in AMOUNTS),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["settlement_runs.id"],
            name=op.f("fk_settlement_intervals_run_id_settlement_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "run_id", "resource_id", "interval_start", name=op.f("pk_settlement_intervals")
        ),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("run_id", ID, nullable=True),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _org_fk("ledger_entries"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index("ix_ledger_entries_org_period", "ledger_entries", ["organization_id", "period"])
    op.create_index("ix_ledger_entries_run", "ledger_entries", ["run_id"])
    op.create_table(
        "ledger_postings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry_id", sa.String(length=255), nullable=False),
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("amount", BIG, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("vpp_id", sa.String(length=36), nullable=True),
        sa.Column("market", sa.String(length=32), nullable=True),
        sa.Column("dimensions", JSONText(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_ledger_postings_entry_id_ledger_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_postings")),
    )
    op.create_index(
        "ix_ledger_postings_org_period_account",
        "ledger_postings",
        ["organization_id", "period", "account"],
    )
    op.create_index("ix_ledger_postings_entry", "ledger_postings", ["entry_id"])


def downgrade() -> None:
    op.drop_table("ledger_postings")
    op.drop_table("ledger_entries")
    op.drop_table("settlement_intervals")
    op.drop_table("settlement_runs")
