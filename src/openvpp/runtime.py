"""Composition root: builds the engine, adapters and services from the settings, once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import redis
from sqlalchemy.engine import Engine

from openvpp.audit.chain import AuditContext
from openvpp.audit.service import verify_chain
from openvpp.config import Settings
from openvpp.core.clock import Clock, SystemClock
from openvpp.core.keys import derive_key, fernet_for
from openvpp.forecasting.conditions_service import MarketConditionsService
from openvpp.forecasting.registry.predictions import PredictionService
from openvpp.forecasting.registry.risk_service import RiskService
from openvpp.forecasting.registry.service import ModelRegistryService
from openvpp.identity.passwords import Passwords
from openvpp.identity.service import IdentityPolicy, IdentityService
from openvpp.identity.tokens import TokenService
from openvpp.jobs.registry import JobContext, JobRegistry
from openvpp.jobs.runner import JobRunner
from openvpp.jobs.service import JobService
from openvpp.markets.connections import ConnectionService
from openvpp.markets.data_service import MarketDataService
from openvpp.markets.exchange import SimulatedExchange
from openvpp.markets.presets import add_market_files
from openvpp.ops.service import OpsService
from openvpp.resources.service import DeviceTemplateService, ResourceService
from openvpp.resources.telemetry_service import TelemetryService
from openvpp.runtime_ai import register_ai_jobs
from openvpp.runtime_autobid import build_autobid, register_autobid_jobs
from openvpp.runtime_dispatch import DispatchRuntime, build_dispatch, register_dispatch_jobs
from openvpp.runtime_markets import build_connections, build_exchange, register_market_jobs
from openvpp.runtime_order_store import ProcessStore, runs_in_process
from openvpp.runtime_settlement import register_settlement_jobs
from openvpp.runtime_trading import TradingRuntime, build_trading, register_trading_jobs
from openvpp.settlement.service import SettlementService
from openvpp.settlement.strategy_service import StrategyService
from openvpp.store.ai_repositories import FileArtifactStore
from openvpp.store.db import SqliteWriteLock, create_engine, sqlite_write_lock
from openvpp.store.limits import (
    RedisRateLimiter,
    RedisReplayGuard,
    SqlRateLimiter,
    SqlReplayGuard,
)
from openvpp.store.uow import AuditSink, SqlUnitOfWork
from openvpp.trading.autobid_service import AutobidService
from openvpp.trading.batch_store import InlineStore
from openvpp.vpp.service import VppService


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    clock: Clock
    audit_key: bytes
    identity: IdentityService
    ops: OpsService
    jobs: JobService
    resources: ResourceService
    vpps: VppService
    telemetry: TelemetryService
    device_templates: DeviceTemplateService
    market_data: MarketDataService
    connections: ConnectionService
    exchange: SimulatedExchange
    """The in-process simulated exchange behind connections of kind ``simulated``."""
    models: ModelRegistryService
    predictions: PredictionService
    risk: RiskService
    conditions: MarketConditionsService
    settlement: SettlementService
    strategies: StrategyService
    runner: JobRunner
    replay_guard: SqlReplayGuard | RedisReplayGuard
    rate_limiter: SqlRateLimiter | RedisRateLimiter
    redis: Any | None = None
    write_lock: SqliteWriteLock | None = None
    """Serializes this process's SQLite writers (``None`` on other databases)."""
    trading: TradingRuntime = field(init=False)
    """Orders, venue synchronisation, limits and the kill switch (``runtime_trading``)."""
    dispatch: DispatchRuntime = field(init=False)
    """Device gateways, dispatch, monitoring and the intraday residual (``runtime_dispatch``)."""
    autobid: AutobidService = field(init=False)
    """Automatic bidding: settings, decisions and the scheduler (``runtime_autobid``)."""

    @property
    def inline_reads(self) -> bool:
        """Whether read-only calls may run on the event loop (a local SQLite file)."""
        return self.engine.dialect.name == "sqlite"

    def uow(
        self,
        context: AuditContext | None = None,
        sink: AuditSink | None = None,
        *,
        readonly: bool = False,
        snapshot: bool = False,
    ) -> SqlUnitOfWork:
        return SqlUnitOfWork(
            self.engine,
            clock=self.clock,
            audit_key=self.audit_key,
            context=context,
            sink=sink,
            readonly=readonly,
            snapshot=snapshot,
            write_lock=self.write_lock,
        )

    def close(self) -> None:
        self.trading.submissions.close()
        self.trading.orders.close()
        self.dispatch.close()
        self.engine.dispose()
        if self.write_lock is not None:
            self.write_lock.close()
        if self.redis is not None:
            self.redis.close()


def build_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    clock = clock or SystemClock()
    add_market_files(settings.market_files)
    engine = create_engine(settings.effective_database_url, pool_size=settings.db_pool_size)
    write_lock = sqlite_write_lock(engine)
    master = settings.master_key
    replay: SqlReplayGuard | RedisReplayGuard
    limiter: SqlRateLimiter | RedisRateLimiter
    client: Any | None = None
    if settings.redis_url:
        client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=2, socket_connect_timeout=2
        )
        replay, limiter = RedisReplayGuard(client), RedisRateLimiter(client, clock)
    else:
        replay = SqlReplayGuard(engine, clock, write_lock)
        limiter = SqlRateLimiter(engine, clock, write_lock)
    identity = IdentityService(
        passwords=Passwords(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        ),
        tokens=TokenService(
            derive_key(master, "jwt"),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            access_ttl_s=settings.access_token_ttl_s,
            clock=clock,
        ),
        api_key_box=fernet_for(master, "api-keys"),
        replay_guard=replay,
        rate_limiter=limiter,
        clock=clock,
        policy=IdentityPolicy(
            refresh_ttl_s=settings.refresh_token_ttl_s,
            max_failures=settings.login_max_failures,
            lockout_s=settings.login_lockout_s,
            login_rate_per_minute=settings.login_rate_per_minute,
            hmac_window_s=settings.hmac_window_s,
            principal_cache_s=settings.principal_cache_s,
        ),
    )
    audit_key = derive_key(master, "audit")
    stale_after = timedelta(seconds=settings.telemetry_stale_after_s)
    registry = JobRegistry()
    runner_context = AuditContext(actor_type="system", actor_id="job-runner")
    runner = JobRunner(
        lambda: runtime.uow(runner_context),  # called only once the runner runs
        registry,
        clock,
        workers=settings.jobs_workers,
        poll_s=settings.jobs_poll_s,
        stale_s=settings.jobs_stale_s,
    )
    exchange = build_exchange(clock, live_demo=settings.demo_live_market)
    models = ModelRegistryService(clock, FileArtifactStore(settings.var_dir / "models"))
    predictions = PredictionService(clock, models)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        clock=clock,
        audit_key=audit_key,
        identity=identity,
        ops=OpsService(clock),
        jobs=JobService(registry, clock),
        resources=ResourceService(clock, stale_after),
        vpps=VppService(clock),
        telemetry=TelemetryService(clock, stale_after),
        device_templates=DeviceTemplateService(clock),
        market_data=MarketDataService(clock),
        connections=build_connections(settings, clock, exchange),
        exchange=exchange,
        models=models,
        predictions=predictions,
        risk=RiskService(clock, models, predictions),
        conditions=MarketConditionsService(clock),
        # a day is computed in one read snapshot, outside its write transaction
        settlement=SettlementService(
            clock, reader=lambda: runtime.uow(readonly=True, snapshot=True)
        ),
        strategies=StrategyService(clock),
        runner=runner,
        replay_guard=replay,
        rate_limiter=limiter,
        redis=client,
        write_lock=write_lock,
    )
    in_process = runs_in_process(settings, engine)
    runtime.trading = build_trading(
        clock,
        runtime.connections,
        venue_timeout_s=settings.connector_timeout_s,
        store=(lambda orders: ProcessStore(settings, InlineStore(orders))) if in_process else None,
    )
    runtime.autobid = build_autobid(runtime)
    _register_platform_jobs(registry, runtime)
    _register_telemetry_jobs(registry, runtime)
    register_market_jobs(registry, runtime)
    register_ai_jobs(registry, runtime)
    register_settlement_jobs(registry, runtime)
    register_trading_jobs(registry, runtime)
    runtime.dispatch = build_dispatch(settings, clock)
    register_dispatch_jobs(registry, runtime)
    register_autobid_jobs(registry, runtime)
    return runtime


def _register_platform_jobs(registry: JobRegistry, rt: Runtime) -> None:
    def audit_verify(ctx: JobContext) -> dict[str, Any]:
        result = verify_chain(
            rt.uow(readonly=True, snapshot=True),
            rt.audit_key,
            progress=lambda n: ctx.progress(0.5, f"{n} rows checked"),
        )
        return {
            "ok": result.ok,
            "checked": result.checked,
            "first_bad_seq": result.first_bad_seq,
            "problem": result.problem,
        }

    def prune(ctx: JobContext) -> dict[str, Any]:
        now = rt.clock.now()
        ctx.progress(0.1, "refresh tokens")
        with rt.uow() as uow:
            tokens = uow.refresh_tokens.delete_expired(now - timedelta(days=1))
            uow.commit()
        ctx.progress(0.5, "replay tokens and rate counters")
        return {
            "refresh_tokens": tokens,
            "replay_tokens": rt.replay_guard.prune(),
            "rate_counters": rt.rate_limiter.prune(),
        }

    registry.register(
        "audit.verify",
        audit_verify,
        description="Verify the audit hash chain; reports the first broken row.",
    )
    registry.register(
        "maintenance.prune",
        prune,
        description="Delete expired refresh tokens, nonces and rate counters.",
    )


def _register_telemetry_jobs(registry: JobRegistry, rt: Runtime) -> None:
    def refresh_status(ctx: JobContext) -> dict[str, Any]:
        context = AuditContext(
            actor_type="system", actor_id="job-runner", organization_id=ctx.organization_id
        )
        return rt.telemetry.refresh_status(rt.uow(context), ctx.organization_id)

    registry.register(
        "resources.refresh_status",
        refresh_status,
        description="Mark resources offline whose newest reading is older than "
        "OPENVPP_TELEMETRY_STALE_AFTER_S (of the submitter's organization; all from the CLI).",
        roles=frozenset({"admin", "operator"}),
    )
