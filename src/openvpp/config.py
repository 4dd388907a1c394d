"""Settings, read once at start-up from the environment and ``.env`` (prefix ``OPENVPP_``)."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every tunable of the platform. See the README's *Configuration* table."""

    model_config = SettingsConfigDict(
        env_prefix="OPENVPP_", env_file=".env", extra="ignore", frozen=True
    )

    var_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
    db_pool_size: int = Field(default=32, ge=1, le=500)
    secret_key: SecretStr | None = None

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    forwarded_allow_ips: str | None = None
    """Proxies trusted for X-Forwarded-For (comma-separated, or *); unset: no proxy headers."""

    log_level: str = "INFO"
    log_json: bool = True

    jwt_issuer: str = "openvpp"
    jwt_audience: str = "openvpp-api"
    access_token_ttl_s: int = Field(default=900, ge=30, le=900)
    refresh_token_ttl_s: int = Field(default=14 * 24 * 3600, ge=300)

    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8192)
    argon2_parallelism: int = Field(default=4, ge=1)

    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_s: int = Field(default=900, ge=1)
    login_rate_per_minute: int = Field(default=30, ge=1)
    api_rate_per_s: float = Field(default=1000.0, ge=0)
    """Requests per second each authenticated caller (user or API key) may send to one server
    process after its burst; 0 turns the limit off (api/ratelimit.py)."""
    api_burst: int = Field(default=1000, ge=1)
    """Requests a caller may send at once before ``api_rate_per_s`` applies."""

    hmac_window_s: int = Field(default=30, ge=1, le=300)
    principal_cache_s: float = Field(default=1.0, ge=0, le=60)

    gc_sweep_s: float = Field(default=900.0, ge=10)
    """The server freezes what survives each of the collector's full passes (api/heap.py);
    every this many seconds it unfreezes the heap so that one full pass frees everything."""

    order_store: Literal["process", "inline"] = "process"
    """Where the API's order submissions are stored and recorded: ``process``, a child process
    of the server (the orders' database work on a core of its own; ``runtime_order_store``),
    or ``inline``, the server's own writer thread. An in-memory SQLite database is always
    ``inline``."""

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_page_size: int = Field(default=500, ge=1)

    jobs_inprocess: bool = True
    jobs_workers: int = Field(default=2, ge=1, le=32)
    jobs_poll_s: float = Field(default=0.5, gt=0)
    jobs_stale_s: float = Field(default=30.0, gt=0)

    telemetry_stale_after_s: int = Field(default=900, ge=1)
    """A resource without a reading for this long counts as offline."""

    max_upload_bytes: int = Field(default=64 * 1_048_576, ge=1024)
    """Largest body of a file upload route (market data import)."""

    market_files: list[Path] = Field(default_factory=list)
    """User-defined market files (YAML, like the presets) loaded next to the presets."""
    connector_allowed_hosts: list[str] = Field(default_factory=list)
    """Hosts venue connections may reach (exact, or ``*.example.com``); empty: none."""
    connector_allow_local: bool = False
    """Allow http and private/loopback addresses for allowlisted hosts (a local exchange)."""
    connector_timeout_s: float = Field(default=10.0, gt=0, le=300)
    autobid_interval_s: float = Field(default=30.0, gt=0, le=3600)
    """Period of the API server's automatic bidding loop (docs/autobidding.md)."""
    settlement_interval_s: float = Field(default=300.0, gt=0, le=86400)
    """Period of the API server's settlement loop: every market day of a VPP with fills is
    settled once it has ended (docs/settlement.md)."""
    settlement_delay_min: int = Field(default=60, ge=0, le=7 * 1440)
    """How long after the end of a local delivery day its automatic settlement waits for the
    last meter readings and real-time prices."""
    settlement_lookback_days: int = Field(default=3, ge=1, le=92)
    """How many past days the settlement loop looks at for days not settled yet."""
    settlement_revision_h: int = Field(default=24, ge=0, le=91 * 24)
    """How long after the end of a day the settlement loop calculates it once more, taking
    in late meter readings, fills and prices (a revision; the same inputs leave the run
    unchanged); 0: never. At most ``24 * (settlement_lookback_days - 1)``, so that the day is
    still looked at then in every time zone."""
    previous_secret_keys: list[SecretStr] = Field(default_factory=list)
    """Former master secrets: credentials encrypted with them still decrypt until
    ``openvpp market rotate-credentials`` re-encrypts them with the current key."""

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    """MQTT broker of the device gateway (``mqtt://[user:password@]host[:port]``)."""
    mqtt_topic_prefix: str = Field(default="openvpp", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    """First topic level of every device topic (``<prefix>/<organization>/<resource>/...``)."""
    mqtt_keepalive_s: int = Field(default=15, ge=2, le=3600)
    mqtt_heartbeat_s: float = Field(default=1.0, gt=0, le=60)
    """Interval of the controller heartbeat the devices watch for their fail-safe."""
    mqtt_resend_after_s: float = Field(default=2.0, gt=0, le=300)
    """How long a gap in a device's telemetry seqs may stay open before the controller asks the
    device to send those readings again (each further request waits twice as long)."""

    demo_live_market: bool = False
    """The in-process exchange clears the demo's live day-ahead market (``US-ISO-DA``/``H``)
    against the shipped PJM prices cycled onto the current dates, so that the whole loop runs
    live (``make run`` sets it; docs/simulation.md)."""

    dispatch_interval_s: float = Field(default=5.0, gt=0, le=3600)
    """Period of the API server's dispatch loop: device gateway, telemetry, dispatch,
    corrections and monitoring (docs/dispatch_service.md)."""
    dispatch_gateway: Literal["simulator", "mqtt"] = "simulator"
    """Device gateway of every organization: the in-process device simulator or MQTT."""
    dispatch_grace_s: int = Field(default=60, ge=0, le=3600)
    """How long a device holds a setpoint past its interval before its fallback."""
    dispatch_deadband_mw: float = Field(default=0.05, ge=0)
    """A within-interval deviation needing less than this [MW] is not corrected."""
    dispatch_correction_every_s: float = Field(default=60.0, gt=0)
    """Least time between two corrections of one VPP within an interval."""
    monitoring_settle_s: float = Field(default=60.0, ge=0)
    """An interval is monitored this long after its end (late telemetry)."""
    monitoring_thresholds: dict[str, float] = Field(default_factory=dict)
    """Deviation alert thresholds (JSON): warning_mw, warning_pct, critical_mw,
    critical_pct, tolerance_mw, tolerance_pct, min_coverage, consecutive."""

    demo_password: SecretStr = SecretStr("openvpp-demo")

    @field_validator("settlement_revision_h")
    @classmethod
    def _revision_within_lookback(cls, value: int, info: ValidationInfo) -> int:
        lookback = info.data.get("settlement_lookback_days")
        if value and lookback is not None and value > 24 * (lookback - 1):
            raise ValueError(
                f"must be 0 or at most 24 * (settlement_lookback_days - 1) = "
                f"{24 * (lookback - 1)} hours, or the loop no longer looks at the day then"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        for prefix, driver in (
            ("postgresql://", "postgresql+psycopg://"),
            ("postgres://", "postgresql+psycopg://"),
            ("mysql://", "mysql+pymysql://"),
            ("mariadb://", "mysql+pymysql://"),
        ):
            if value.startswith(prefix):
                return driver + value[len(prefix) :]
        return value

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or a WAL-mode SQLite file under ``var_dir``."""
        return self.database_url or f"sqlite:///{self.var_dir / 'openvpp.db'}"

    @cached_property
    def master_key(self) -> bytes:
        """The master secret; generated once into ``var_dir/secret.key`` when not configured."""
        if self.secret_key is not None:
            raw = self.secret_key.get_secret_value().encode()
            if len(raw) < 32:
                raise ValueError("OPENVPP_SECRET_KEY must be at least 32 characters")
            return raw
        path = self.var_dir / "secret.key"
        if not path.exists():
            # Write aside, then link into place: atomic, and a concurrent worker keeps its own.
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".secret.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip().encode()


def load_settings(**overrides: object) -> Settings:
    """Build the settings once; ``overrides`` win over the environment (tests, CLI flags)."""
    return Settings(**overrides)  # type: ignore[arg-type]
