"""Table definitions (SQLAlchemy Core). The Alembic migrations create exactly these."""

from __future__ import annotations

import sqlalchemy as sa

from openvpp.store.types import JSONText, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = sa.String(36)

organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("slug", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False, index=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("roles", sa.String(100), nullable=False),
    sa.Column("is_active", sa.Boolean(), nullable=False),
    sa.Column("failed_logins", sa.Integer(), nullable=False),
    sa.Column("locked_until", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

auth_sessions = sa.Table(
    "auth_sessions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_reason", sa.String(100), nullable=True),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("session_id", ID, sa.ForeignKey("auth_sessions.id"), nullable=False, index=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("issued_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("used_at", UTCDateTime(), nullable=True),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False, index=True),
    sa.Column("created_by", ID, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("roles", sa.String(100), nullable=False),
    sa.Column("signing_key_enc", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

replay_tokens = sa.Table(
    "replay_tokens",
    metadata,
    sa.Column("scope", sa.String(64), primary_key=True),
    sa.Column("token", sa.String(128), primary_key=True),
    sa.Column("expires_at", UTCDateTime(), nullable=False, index=True),
)

rate_counters = sa.Table(
    "rate_counters",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("window_start", sa.BigInteger(), primary_key=True),
    sa.Column("hits", sa.Integer(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False, index=True),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("actor_type", sa.String(16), nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=True),
    sa.Column("organization_id", ID, nullable=True, index=True),
    sa.Column("action", sa.String(200), nullable=False),
    sa.Column("object_type", sa.String(50), nullable=True),
    sa.Column("object_id", sa.String(64), nullable=True),
    sa.Column("before", sa.Text(), nullable=True),
    sa.Column("after", sa.Text(), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("last_seq", sa.BigInteger(), nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
)

system_alerts = sa.Table(
    "system_alerts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, nullable=True, index=True),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("raised_at", UTCDateTime(), nullable=False),
    sa.Column("raised_by", sa.String(64), nullable=True),
    sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
    sa.Column("acknowledged_by", sa.String(64), nullable=True),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    sa.Column("resolved_by", sa.String(64), nullable=True),
)

operation_logs = sa.Table(
    "operation_logs",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, nullable=True, index=True),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("details", JSONText(), nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=True),
    sa.Column("request_id", sa.String(64), nullable=True),
)

performance_metrics = sa.Table(
    "performance_metrics",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, nullable=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("value", sa.Float(), nullable=False),
    sa.Column("unit", sa.String(20), nullable=False),
    sa.Column("labels", JSONText(), nullable=False),
    sa.Column("measured_at", UTCDateTime(), nullable=False),
    sa.Index("ix_performance_metrics_org_name_time", "organization_id", "name", "measured_at"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, nullable=True, index=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("params", JSONText(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("progress", sa.Float(), nullable=False),
    sa.Column("message", sa.String(500), nullable=False),
    sa.Column("result", JSONText(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
    sa.Column("worker_id", sa.String(64), nullable=True),
)

device_templates = sa.Table(
    "device_templates",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("key", sa.String(80), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("resource_type", sa.String(32), nullable=False),
    sa.Column("model_version", sa.Integer(), nullable=False),
    sa.Column("description", sa.String(500), nullable=False),
    sa.Column("defaults", JSONText(), nullable=False),
    sa.Column("limits", JSONText(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("organization_id", "key", "version"),
)

resources = sa.Table(
    "resources",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("resource_type", sa.String(32), nullable=False),
    sa.Column("template_version", sa.Integer(), nullable=False),
    sa.Column("parameters", JSONText(), nullable=False),
    sa.Column("grid_node", sa.String(100), nullable=False),
    sa.Column("device_template_id", ID, sa.ForeignKey("device_templates.id"), nullable=True),
    sa.Column("latitude", sa.Float(), nullable=True),
    sa.Column("longitude", sa.Float(), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_changed_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_resources_org_type", "organization_id", "resource_type"),
)

telemetry = sa.Table(
    "telemetry",
    metadata,
    # No foreign key (migration 0005): a per-row check would halve bulk ingest. Integrity is
    # kept per batch instead: ingest share-locks the batch's resources (FOR KEY SHARE), and
    # deleting a resource row-locks it and deletes its telemetry first.
    sa.Column("resource_id", ID, primary_key=True),
    sa.Column("ts", UTCDateTime(), primary_key=True),
    sa.Column("power_mw", sa.Float(), nullable=False),
    sa.Column("soc", sa.Float(), nullable=True),
    sa.Column("fault", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("received_at", UTCDateTime(), nullable=False),
)

grid_nodes = sa.Table(
    "grid_nodes",
    metadata,
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), primary_key=True),
    sa.Column("code", sa.String(100), primary_key=True),
    sa.Column("market_area", sa.String(40), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

vpps = sa.Table(
    "vpps",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("market_area", sa.String(40), nullable=False),
    sa.Column("description", sa.String(1000), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("organization_id", "name"),
)

vpp_members = sa.Table(
    "vpp_members",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("vpp_id", ID, sa.ForeignKey("vpps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("resource_id", ID, sa.ForeignKey("resources.id"), nullable=False),
    sa.Column("share_pct", sa.Numeric(7, 4), nullable=False),
    sa.Column("valid_from", UTCDateTime(), nullable=False),
    sa.Column("valid_to", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_vpp_members_vpp", "vpp_id"),
    sa.Index("ix_vpp_members_resource", "resource_id"),
)

vpp_parameters = sa.Table(
    "vpp_parameters",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("vpp_id", ID, sa.ForeignKey("vpps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("effective_from", UTCDateTime(), nullable=False),
    sa.Column("parameters", JSONText(), nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("recorded_by", ID, nullable=True),
    sa.Index("ix_vpp_parameters_vpp_from", "vpp_id", "effective_from"),
)

market_data_imports = sa.Table(
    "market_data_imports",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("format", sa.String(32), nullable=False),
    sa.Column("source", sa.String(255), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("rows_read", sa.Integer(), nullable=False),
    sa.Column("values_parsed", sa.Integer(), nullable=False),
    sa.Column("values_stored", sa.Integer(), nullable=False),
    sa.Column("duplicates", sa.Integer(), nullable=False),
    sa.Column("conflicts", sa.Integer(), nullable=False),
    sa.Column("report", JSONText(), nullable=False),
    sa.Column("imported_at", UTCDateTime(), nullable=False),
    sa.Column("imported_by", sa.String(64), nullable=True),
    sa.Index("ix_market_data_imports_org_time", "organization_id", "imported_at"),
)

market_data = sa.Table(
    "market_data",
    metadata,
    # One row per value and vintage: the time it became known is part of the key, so a
    # revision is a new row and "what was known at T" is a query.
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), primary_key=True),
    sa.Column("market", sa.String(32), primary_key=True),
    sa.Column("area", sa.String(32), primary_key=True),
    sa.Column("product", sa.String(32), primary_key=True),
    sa.Column("series", sa.String(64), primary_key=True),
    sa.Column("start", UTCDateTime(), primary_key=True),
    sa.Column("known_at", UTCDateTime(), primary_key=True),
    sa.Column("period_min", sa.Integer(), nullable=False),
    sa.Column("value", sa.Numeric(18, 6), nullable=False),
    sa.Column("unit", sa.String(32), nullable=False),
    sa.Column(
        "import_id",
        ID,
        sa.ForeignKey("market_data_imports.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
)

market_connections = sa.Table(
    "market_connections",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("base_url", sa.String(500), nullable=True),
    sa.Column("markets", JSONText(), nullable=False),
    sa.Column("options", JSONText(), nullable=False),
    # Fernet token of the JSON credentials; the key is derived from the master secret, which
    # never lives in the database.
    sa.Column("credentials", sa.Text(), nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_changed_at", UTCDateTime(), nullable=True),
    sa.Column("last_checked_at", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("organization_id", "name"),
)

market_connection_checks = sa.Table(
    "market_connection_checks",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column(
        "connection_id",
        ID,
        sa.ForeignKey("market_connections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("checked_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("latency_ms", sa.Float(), nullable=True),
    sa.Column("error", sa.String(500), nullable=True),
    sa.Index("ix_market_connection_checks_conn_time", "connection_id", "checked_at"),
)

ai_models = sa.Table(
    "ai_models",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    # the name while active, NULL once archived: unique among an organization's active models
    # (NULLs never collide), so a deleted model's name can be used again
    sa.Column("active_name", sa.String(100), nullable=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("algorithm", sa.String(40), nullable=False),
    sa.Column("description", sa.String(1000), nullable=False),
    sa.Column("params", JSONText(), nullable=False),
    sa.Column("data_source", JSONText(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("latest_version", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.UniqueConstraint("organization_id", "active_name"),
)

ai_model_versions = sa.Table(
    "ai_model_versions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("model_id", ID, sa.ForeignKey("ai_models.id"), nullable=False),
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("algorithm", sa.String(40), nullable=False),
    sa.Column("params", JSONText(), nullable=False),
    sa.Column("data_source", JSONText(), nullable=False),
    sa.Column("train_start", UTCDateTime(), nullable=False),
    sa.Column("train_end", UTCDateTime(), nullable=False),
    sa.Column("data_as_of", UTCDateTime(), nullable=False),
    sa.Column("metrics", JSONText(), nullable=False),
    sa.Column("artifact", sa.String(500), nullable=True),
    sa.Column("artifact_sha256", sa.String(64), nullable=True),
    sa.Column("artifact_bytes", sa.Integer(), nullable=True),
    sa.Column("job_id", ID, nullable=True),
    sa.Column("error", sa.String(500), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("trained_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("model_id", "version"),
)

ai_prediction_runs = sa.Table(
    "ai_prediction_runs",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("model_id", ID, sa.ForeignKey("ai_models.id"), nullable=False),
    sa.Column("version_id", ID, sa.ForeignKey("ai_model_versions.id"), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("issued_at", UTCDateTime(), nullable=False),
    sa.Column("horizon_start", UTCDateTime(), nullable=False),
    sa.Column("horizon_end", UTCDateTime(), nullable=False),
    sa.Column("step_s", sa.Integer(), nullable=False),
    sa.Column("points", sa.Integer(), nullable=False),
    sa.Column("unit", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Index("ix_ai_prediction_runs_model_issued", "model_id", "issued_at"),
)

ai_predictions = sa.Table(
    "ai_predictions",
    metadata,
    sa.Column(
        "run_id", ID, sa.ForeignKey("ai_prediction_runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("target_start", UTCDateTime(), primary_key=True),
    sa.Column("p10", sa.Double(), nullable=False),
    sa.Column("p50", sa.Double(), nullable=False),
    sa.Column("p90", sa.Double(), nullable=False),
    sa.Column("extra", JSONText(), nullable=False),
)

# --- trading (0008) ---------------------------------------------------------------------------
MONEY = sa.Numeric(24, 8)
"""Exact prices and volumes [currency/MWh], [MW] and their products."""

trading_orders = sa.Table(
    "trading_orders",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("vpp_id", ID, nullable=False),
    sa.Column("connection_id", ID, nullable=False),
    # the idempotency key: a concurrent second insert of the same id fails on this constraint
    sa.Column("client_order_id", sa.String(64), nullable=False),
    sa.Column("market", sa.String(32), nullable=False),
    sa.Column("product", sa.String(32), nullable=False),
    sa.Column("delivery_start", UTCDateTime(), nullable=False),
    sa.Column("gate_closure", UTCDateTime(), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("order_type", sa.String(16), nullable=False),
    sa.Column("price", MONEY, nullable=False),
    sa.Column("quantity", MONEY, nullable=False),
    sa.Column("filled", MONEY, nullable=False),
    sa.Column("filled_value", MONEY, nullable=False),
    sa.Column("avg_price", MONEY, nullable=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("venue_order_id", sa.String(64), nullable=True),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("reject_reason", sa.String(500), nullable=True),
    sa.Column("risk_rule", sa.String(40), nullable=True),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("decision_id", ID, nullable=True),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint(
        "organization_id", "client_order_id", name="uq_trading_orders_org_client_order_id"
    ),
    sa.Index("ix_trading_orders_org_created", "organization_id", "created_at"),
    # a VPP's orders of a delivery interval (the order list's filters, trading sessions); no
    # longer covering since the exposure has its own rows (migration 0013)
    sa.Index("ix_trading_orders_interval", "organization_id", "vpp_id", "market", "delivery_start"),
    # the trading loop's reads (migration 0015): open orders whose gate has closed, and the
    # connections with open orders
    sa.Index("ix_trading_orders_state_gate", "state", "gate_closure"),
    sa.Index("ix_trading_orders_connection_state", "connection_id", "state"),
)

EXPOSURE_SCALE = 10**8
"""``trading_exposures`` stores volumes as integers of 1e-8 MW: exact sums on every database
(SQLite keeps a NUMERIC as a float), the orders' own precision (``MONEY``)."""

trading_exposures = sa.Table(
    "trading_exposures",
    metadata,
    # One row per VPP, market, product and delivery start: what the orders of that interval add
    # up to, kept current in the transaction that writes them (migration 0013), so that the
    # risk check reads one row instead of summing every order of the interval.
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), primary_key=True),
    sa.Column("vpp_id", ID, primary_key=True),
    sa.Column("market", sa.String(32), primary_key=True),
    sa.Column("product", sa.String(32), primary_key=True),
    sa.Column("delivery_start", UTCDateTime(), primary_key=True),
    sa.Column("net_filled", sa.BigInteger(), nullable=False),  # bought minus sold
    sa.Column("open_buy", sa.BigInteger(), nullable=False),  # rest of the open buy orders
    sa.Column("open_sell", sa.BigInteger(), nullable=False),
)

trading_order_counts = sa.Table(
    "trading_order_counts",
    metadata,
    # The orders of a VPP on a market that passed risk, counted per time step (migration 0014):
    # ``step_ms`` 10 for the per-second limit, 1,000 for the per-minute one; ``step`` is the
    # creation time in those steps since the Unix epoch. Written in the transaction that
    # inserts the orders; steps older than the windows are deleted as orders go on.
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), primary_key=True),
    sa.Column("vpp_id", ID, primary_key=True),
    sa.Column("market", sa.String(32), primary_key=True),
    sa.Column("step_ms", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("step", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("orders", sa.Integer(), nullable=False),
)

trading_order_events = sa.Table(
    "trading_order_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column(
        "order_id", ID, sa.ForeignKey("trading_orders.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("detail", JSONText(), nullable=False),
    sa.Index("ix_trading_order_events_order", "order_id", "id"),
)

trading_fills = sa.Table(
    "trading_fills",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("connection_id", ID, nullable=False),
    # de-duplication: a trade is applied once per connection, whatever the feed repeats
    sa.Column("trade_id", sa.String(64), nullable=False),
    sa.Column("order_id", ID, sa.ForeignKey("trading_orders.id"), nullable=True),
    sa.Column("vpp_id", ID, nullable=True),
    sa.Column("venue_order_id", sa.String(64), nullable=False),
    sa.Column("client_order_id", sa.String(64), nullable=False),
    sa.Column("market", sa.String(32), nullable=False),
    sa.Column("product", sa.String(32), nullable=False),
    sa.Column("delivery_start", UTCDateTime(), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("price", MONEY, nullable=False),
    sa.Column("quantity", MONEY, nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("executed_at", UTCDateTime(), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("connection_id", "trade_id", name="uq_trading_fills_connection_trade"),
    sa.Index("ix_trading_fills_org_executed", "organization_id", "executed_at"),
    sa.Index("ix_trading_fills_order", "order_id"),
)

trading_fill_cursors = sa.Table(
    "trading_fill_cursors",
    metadata,
    sa.Column("connection_id", ID, primary_key=True),
    sa.Column("cursor", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

trading_limits = sa.Table(
    "trading_limits",
    metadata,
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), primary_key=True),
    sa.Column("vpp_id", ID, primary_key=True),
    sa.Column("market", sa.String(32), primary_key=True),
    sa.Column("limits", JSONText(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=True),
)

trading_states = sa.Table(
    "trading_states",
    metadata,
    # scope: a VPP id, or "*" for the whole organization (the global kill switch). Submissions
    # lock the organization's row, then the VPP's, before checking and inserting an order.
    sa.Column("organization_id", ID, sa.ForeignKey("organizations.id"), primary_key=True),
    sa.Column("scope", sa.String(36), primary_key=True),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(500), nullable=True),
    sa.Column("changed_by", sa.String(64), nullable=True),
    sa.Column("changed_at", UTCDateTime(), nullable=False),
)

from openvpp.store import loop_tables as loop_tables  # noqa: E402  (registers the loop tables on metadata)
from openvpp.store import settlement_tables as settlement_tables  # noqa: E402  (registers the settlement tables on metadata)
