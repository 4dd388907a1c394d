"""What the benchmarks share: a fresh, empty database per backend; a seeded runtime for the
trading benches."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/",
}


@contextmanager
def database(backend: str, name: str) -> Iterator[str | None]:
    """A fresh, empty database URL for ``backend`` (SQLite in a temporary directory; a
    database ``name`` on the local PostgreSQL or MariaDB server, dropped and created, dropped
    again afterwards), or ``None`` (with a JSON line saying why) when its server is down."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    root = SERVERS[backend]
    admin = sa.create_engine(
        root + ("postgres" if backend == "postgresql" else ""), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
            c.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        print(json.dumps({"backend": backend, "skipped": str(exc.orig)[:120]}))
        yield None
        return
    try:
        yield root + name
    finally:
        with suppress(sa.exc.OperationalError), admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def cpu_reference_ms(rounds: int = 3) -> float:
    """The fastest of ``rounds`` runs of one fixed piece of pure Python (dicts, strings,
    integers: what a request costs), in ms: 40-45 ms on a quiet core of the 2-core VM these
    benches ran on. Printed next to a run's latencies, it says how fast the machine was in
    those minutes, so runs of different hours or sessions on a shared VM can be told apart
    from changes of the code."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        table: dict[str, int] = {}
        for i in range(200_000):
            key = f"k{i % 5_000}"
            table[key] = table.get(key, 0) + i * 7 % 13
        sorted(table.items(), key=lambda kv: kv[1])
        best = min(best, time.perf_counter() - start)
    return round(best * 1_000, 1)


def analyze(engine: sa.Engine) -> None:
    """Gather the planner's statistics, as autovacuum does within a minute of a table's growth
    on a server database. A benchmark's fresh tables have none: a statement prepared while a
    table was nearly empty (psycopg prepares one after its fifth run) keeps a plan that scans
    the table, and its time grows with every row until autovacuum catches up. No-op on
    SQLite."""
    if engine.dialect.name == "sqlite":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE"))
        else:
            for name in sa.inspect(conn).get_table_names():
                conn.execute(sa.text(f"ANALYZE TABLE `{name}`"))


@dataclass
class ParkTrading:
    """A runtime on a fresh SQLite database with the demo park, and what a trading bench needs:
    the demo organization, the VPP "Park Energy", a trader-operator principal, its audit
    context, generous limits on ``market`` (see :func:`park_trading`)."""

    rt: Any
    org: str
    vpp_id: str
    principal: Any
    context: Any
    market: str

    def connection_and_vpps(self, n: int = 2) -> tuple[str, list[str]]:
        """The organization's first connection and its first ``n`` VPPs (ids)."""
        with self.rt.uow(readonly=True) as uow:
            connection = uow.market_connections.of_org(self.org)[0].id
            vpps = [v.id for v in uow.vpps.list_all(self.org)][:n]
        return connection, vpps

    def resting_order(self, product: str, starts: list[datetime], n: int, prefix: str) -> Any:
        """Order ``n`` of a stream that never matches (sells at 900, buys at 10, 0.1 MW), its
        delivery hour taken in turn from ``starts``."""
        from openvpp.trading.records import SubmitOrder

        sell = n % 2 == 0
        return SubmitOrder(
            client_order_id=f"{prefix}-{n}",
            vpp_id=self.vpp_id,
            market=self.market,
            product=product,
            delivery_start=starts[n % len(starts)],
            side="sell" if sell else "buy",
            price=Decimal(900 if sell else 10),
            quantity=Decimal("0.1"),
        )


def park_trading(tmp: str, name: str, market: str, **env: str) -> ParkTrading:
    """Settings from the environment (a SQLite file under ``tmp``, jobs off, the order store
    inline, plus ``env``), migrated and seeded with the demo park; limits that no bench order
    reaches on ``market``."""
    os.environ.update(
        {
            "OPENVPP_VAR_DIR": str(Path(tmp) / "var"),
            "OPENVPP_DATABASE_URL": "",
            "OPENVPP_SECRET_KEY": f"bench-{name}-" + "x" * 40,
            "OPENVPP_LOG_LEVEL": "WARNING",
            "OPENVPP_JOBS_INPROCESS": "false",
            "OPENVPP_ORDER_STORE": "inline",
            **env,
        }
    )
    from openvpp.audit.chain import AuditContext
    from openvpp.config import load_settings
    from openvpp.identity.model import Principal, Role
    from openvpp.runtime import build_runtime
    from openvpp.seed import seed_demo
    from openvpp.store.migrate import upgrade
    from openvpp.trading.risk import Limits

    rt = build_runtime(load_settings())
    upgrade(rt.engine)
    seed_demo(rt, park=True)
    with rt.uow(readonly=True) as uow:
        org = uow.market_connections.of_org(None)[0].organization_id
        vpp_id = next(v.id for v in uow.vpps.list_all(org) if v.name == "Park Energy")
    principal = Principal(
        kind="user",
        id="trader",
        organization_id=org,
        roles=frozenset({Role.TRADER, Role.OPERATOR}),
        user_id="trader",
    )
    context = AuditContext(actor_type="user", actor_id="trader", organization_id=org)
    limits = Limits(
        max_position_mw=Decimal(10**6),
        max_order_mw=Decimal(10),
        max_notional=Decimal(10**7),
        max_orders_per_second=10**6,
        max_orders_per_minute=10**7,  # both windows counted, as with the default limits
    )
    rt.trading.control.put_limits(rt.uow(context), principal, vpp_id, market, limits)
    return ParkTrading(rt, org, vpp_id, principal, context, market)


@contextmanager
def park_on(
    backend: str, database_name: str, name: str, market: str
) -> Iterator[ParkTrading | None]:
    """:func:`park_trading` on a fresh database of ``backend`` (``database_name`` on the local
    server), closed afterwards; ``None`` when the server is down (a JSON line says so)."""
    with (
        tempfile.TemporaryDirectory(prefix=f"openvpp-bench-{name}-") as tmp,
        database(backend, database_name) as url,
    ):
        if url is None:
            yield None
            return
        server = {} if backend == "sqlite" else {"OPENVPP_DATABASE_URL": url}
        park = park_trading(tmp, name, market, **server)
        try:
            yield park
        finally:
            park.rt.close()


def fastest(run: Callable[[], Any], repeat: int) -> tuple[float, list[Any]]:
    """The fastest of ``repeat`` runs of ``run`` [ms], and what each run returned."""
    best, results = float("inf"), []
    for _ in range(repeat):
        started = time.perf_counter()
        results.append(run())
        best = min(best, time.perf_counter() - started)
    return best * 1_000, results


def stored_order(
    park: ParkTrading,
    k: int,
    vpp_id: str,
    connection: str,
    product: str,
    start: datetime,
    state: Any,
    *,
    created: datetime,
    filled: Decimal = Decimal(0),
) -> Any:
    """Order ``k`` of a bench's stored book (``bench-K``): 1.5 MW at 50 EUR/MWh for ``start``,
    sells and buys in turn, its gate 5 minutes before delivery, ``filled`` of it traded at 50."""
    from openvpp.trading.orders import Order

    return Order(
        id=f"bench-{k:08d}",
        organization_id=park.org,
        vpp_id=vpp_id,
        connection_id=connection,
        client_order_id=f"bench-{k}",
        market=park.market,
        product=product,
        delivery_start=start,
        side="buy" if k % 2 else "sell",
        order_type="limit",
        price=Decimal(50),
        quantity=Decimal("1.5"),
        filled=filled,
        filled_value=filled * 50,
        state=state,
        body_hash="bench",
        created_at=created,
        updated_at=created,
        gate_closure=start - timedelta(minutes=5),
    )


def insert_in_batches(rt: Any, orders: Iterable[Any], size: int = 1_000) -> None:
    """``orders`` inserted through the order repository, ``size`` per transaction."""
    batch: list[Any] = []
    for order in orders:
        batch.append(order)
        if len(batch) == size:
            _insert(rt, batch)
            batch = []
    if batch:
        _insert(rt, batch)


def _insert(rt: Any, batch: list[Any]) -> None:
    with rt.uow() as uow:
        uow.trading_orders.insert_many(batch)
        uow.commit()
