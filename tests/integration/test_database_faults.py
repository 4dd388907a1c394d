"""Database faults against the real PostgreSQL and MariaDB servers (RELIABILITY item 5),
through a TCP proxy on loopback that can kill the connections and refuse new ones: a
connection killed in the middle of an order's transaction leaves no partial write (and the
order, retried, exists once); with the database down for 10 s every request answers 503 with
Retry-After and no stack trace, quickly; once it is back, writes succeed again within 5 s."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from fastapi.testclient import TestClient

from openvpp.api.app import create_app
from openvpp.runtime import Runtime, build_runtime
from openvpp.seed import seed_demo
from openvpp.store import tables as t
from tests.conftest import clear_tables
from tests.integration.test_trading_batching import _chain_ok
from tests.integration.trading_support import T, open_hour, order_body, setup_trading
from tests.support import ShiftClock, bearer, demo, make_settings

pytestmark = pytest.mark.parametrize("backend", ["postgresql", "mariadb"], indirect=True)

OUTAGE_S = 10.0
"""How long the database is down (RELIABILITY item 5)."""
RECOVERY_S = 5.0
"""How soon after it is back writes must succeed again (RELIABILITY item 5)."""


class FaultProxy:
    """A TCP proxy on loopback to ``target``: :meth:`cut` kills every open connection (both
    ends see it closed), :meth:`down` also resets every new one until :meth:`up`. The port
    stays bound all along, so that nothing else can take it during an outage."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._refusing = threading.Event()
        self._closed = threading.Event()
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def up(self) -> None:
        self._refusing.clear()

    def down(self) -> None:
        self._refusing.set()
        self.cut()

    def close(self) -> None:
        self._closed.set()
        self._accepting.join(5)
        self._listener.close()
        self.cut()

    def cut(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            for s in pair:
                _shut(s)
                s.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            if self._refusing.is_set():  # the database is down: reset at once
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._pairs.add((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _shut(source)
        _shut(sink)


def _shut(s: socket.socket) -> None:
    """Both directions closed (the peer sees the end); already closed: nothing to do."""
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxy(database_url: str) -> Iterator[FaultProxy]:
    url = sa.make_url(database_url)
    p = FaultProxy((url.host or "127.0.0.1", int(url.port or 0)))
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def proxied(
    database_url: str, proxy: FaultProxy, tmp_path: Path, clock: ShiftClock
) -> Iterator[Runtime]:
    """A seeded runtime whose every connection goes through ``proxy``."""
    url = sa.make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    rt = build_runtime(
        make_settings(url.render_as_string(hide_password=False), str(tmp_path)), clock=clock
    )
    direct = sa.create_engine(database_url)
    clear_tables(direct)
    seed_demo(rt)
    try:
        yield rt
    finally:
        rt.close()
        clear_tables(direct)
        direct.dispose()


@pytest.fixture
def api(proxied: Runtime) -> Iterator[TestClient]:
    with TestClient(
        create_app(runtime=proxied, start_jobs=False), raise_server_exceptions=False
    ) as c:
        yield c


def _orders(database_url: str, client_order_id: str) -> tuple[int, int]:
    """(order rows, their event rows) with ``client_order_id``, read past the proxy."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            ids = (
                conn.execute(
                    sa.select(t.trading_orders.c.id).where(
                        t.trading_orders.c.client_order_id == client_order_id
                    )
                )
                .scalars()
                .all()
            )
            events = conn.execute(
                sa.select(sa.func.count())
                .select_from(t.trading_order_events)
                .where(t.trading_order_events.c.order_id.in_(ids))
            ).scalar_one()
    finally:
        engine.dispose()
    return len(ids), int(events)


def test_a_connection_killed_mid_transaction_leaves_no_partial_order(
    api: TestClient,
    proxied: Runtime,
    proxy: FaultProxy,
    database_url: str,
    clock: ShiftClock,
) -> None:
    ctx = setup_trading(api)
    start = open_hour(clock.now())
    clean = api.post(f"{T}/orders", headers=ctx["trader"], json=order_body(ctx, start, "clean"))
    assert clean.status_code == 201, clean.text
    clean_rows = _orders(database_url, "clean")
    assert clean_rows[0] == 1 and clean_rows[1] > 0

    killed: list[str] = []

    def kill(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # the order's row is written; its event log is next, in the same transaction
        if not killed and statement.lstrip().upper().startswith("INSERT INTO TRADING_ORDER_EVENTS"):
            killed.append(statement)
            proxy.cut()
            time.sleep(0.05)  # the close reaches the driver's socket first

    sa.event.listen(proxied.engine, "before_cursor_execute", kill)
    try:
        body = order_body(ctx, start, "killed")
        first = api.post(f"{T}/orders", headers=ctx["trader"], json=body)
    finally:
        sa.event.remove(proxied.engine, "before_cursor_execute", kill)
    assert killed, "the fault point was never reached"
    # the submission ran again one by one on a new connection, or answered 503: never a 500
    assert first.status_code in (201, 503), first.text
    if first.status_code == 503:
        assert first.headers["Retry-After"] and "Traceback" not in first.text
        assert _orders(database_url, "killed") == (0, 0), "a partial write"
    again = api.post(f"{T}/orders", headers=ctx["trader"], json=body)
    assert again.status_code in (200, 201), again.text
    # one order, as complete as the clean one, and an unbroken audit chain
    assert _orders(database_url, "killed") == clean_rows
    assert _chain_ok(proxied)


def test_the_database_down_for_10_s_gives_503_then_recovers_within_5_s(
    api: TestClient, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    admin = bearer(api, demo("admin"))

    def create_vpp(name: str) -> Any:
        return api.post("/api/vpp/vpps", headers=admin, json={"name": name, "market_area": "DE-LU"})

    assert create_vpp("before").status_code == 201
    proxy.down()
    went_down = time.monotonic()
    answers = []
    with structlog.testing.capture_logs() as logged:
        while time.monotonic() - went_down < OUTAGE_S:
            answers += [api.get("/readyz"), create_vpp(f"during-{len(answers)}")]
            time.sleep(0.5)
    assert answers and {r.status_code for r in answers} == {503}
    assert all(r.headers.get("Retry-After") for r in answers[1::2])
    assert not [r for r in answers if "Traceback" in r.text or "psycopg" in r.text]
    # the log says so for each request, without a traceback each
    events = Counter(e["event"] for e in logged)
    assert events["database.unavailable"] == len(answers) // 2, events
    assert not [e for e in logged if "exc_info" in e or "exception" in e], logged
    ours = [r for r in caplog.records if r.name.startswith("openvpp") and r.exc_info]
    assert not ours, [r.getMessage() for r in ours]

    proxy.up()
    back = time.monotonic()
    while (created := create_vpp("after")).status_code != 201:
        assert created.status_code == 503, created.text
        assert time.monotonic() - back < RECOVERY_S, "not recovered within 5 s"
        time.sleep(0.1)
    recovered_s = time.monotonic() - back
    assert recovered_s < RECOVERY_S, recovered_s
    assert api.get("/readyz").status_code == 200
    names = {v["name"] for v in api.get("/api/vpp/vpps", headers=admin).json()}
    assert {"before", "after"} <= names and not any(n.startswith("during") for n in names)
