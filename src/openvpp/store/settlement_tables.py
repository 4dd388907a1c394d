"""Tables of settlement (migrations 0011 and 0012): settlement runs, their interval details
per VPP and resource, and the double-entry ledger. Registered on the same ``metadata`` as
:mod:`openvpp.store.tables`. Amounts are integer minor currency units, energies integer energy
steps (``BigInteger``), so sums in SQL are exact on every backend."""

from __future__ import annotations

import sqlalchemy as sa

from openvpp.settlement.records import AMOUNT_COLUMNS
from openvpp.store.tables import ID, metadata
from openvpp.store.types import JSONText, UTCDateTime

BIG = sa.BigInteger()

settlement_runs = sa.Table(
    "settlement_runs",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("vpp_id", ID, nullable=False),
    sa.Column("market", sa.String(32), nullable=False),
    sa.Column("area", sa.String(40), nullable=False),
    sa.Column("day", sa.Date(), nullable=False),  # the market's local delivery day
    # a rerun with other inputs is a new version that supersedes the previous one
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("input_hash", sa.String(64), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("minor_unit", sa.String(16), nullable=False),
    sa.Column("energy_step_mwh", sa.String(16), nullable=False),
    sa.Column("intervals", sa.Integer(), nullable=False),
    sa.Column("resources", sa.Integer(), nullable=False),
    sa.Column("estimated_intervals", sa.Integer(), nullable=False),
    sa.Column("totals", JSONText(), nullable=False),  # line -> minor units
    sa.Column("total", BIG, nullable=False),
    sa.Column("inputs", JSONText(), nullable=False),  # sources and parameters of the run
    sa.Column("prices", JSONText(), nullable=False),  # the prices applied, in ticks
    sa.Column("superseded_by", ID, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(64), nullable=True),
    # the latest calculation that found the same inputs (migration 0012)
    sa.Column("checked_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint(
        "organization_id", "vpp_id", "market", "day", "version", name="uq_settlement_runs_version"
    ),
    sa.Index("ix_settlement_runs_org_day", "organization_id", "day"),
)

settlement_intervals = sa.Table(
    "settlement_intervals",
    metadata,
    sa.Column(
        "run_id", ID, sa.ForeignKey("settlement_runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("resource_id", sa.String(36), primary_key=True),  # "" for the VPP
    sa.Column("interval_start", UTCDateTime(), primary_key=True),
    sa.Column("interval_min", sa.Integer(), nullable=False),
    sa.Column("scheduled", BIG, nullable=False),  # energy steps, positive = injection
    sa.Column("metered", BIG, nullable=False),
    sa.Column("estimated", sa.Boolean(), nullable=False),
    *(sa.Column(name, BIG, nullable=False) for name in AMOUNT_COLUMNS),
)

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("run_id", ID, nullable=True),
    sa.Column("period", sa.Date(), nullable=False),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_ledger_entries_org_period", "organization_id", "period"),
    sa.Index("ix_ledger_entries_run", "run_id"),
)

ledger_postings = sa.Table(
    "ledger_postings",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column(
        "entry_id",
        sa.String(255),
        sa.ForeignKey("ledger_entries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("organization_id", ID, nullable=False),
    sa.Column("period", sa.Date(), nullable=False),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("amount", BIG, nullable=False),  # debit positive, credit negative
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("vpp_id", sa.String(36), nullable=True),
    sa.Column("market", sa.String(32), nullable=True),
    sa.Column("dimensions", JSONText(), nullable=False),
    sa.Index("ix_ledger_postings_org_period_account", "organization_id", "period", "account"),
    sa.Index("ix_ledger_postings_entry", "entry_id"),
)
