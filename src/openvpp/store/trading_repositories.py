"""Trading: orders with their event log, fills, fill cursors, limits and trading states. Like
every repository, these never commit."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, RowMapping
from sqlalchemy.exc import IntegrityError

from openvpp.store import tables as t
from openvpp.store.driver_sql import DriverStatement
from openvpp.store.types import UTCDateTime
from openvpp.trading.orders import OPEN, Order, State
from openvpp.trading.records import (
    DuplicateOrder,
    EventRow,
    FillRecord,
    OrderFilter,
    StaleOrder,
    StateRecord,
    exact,
)
from openvpp.trading.risk import (
    MINUTE_WINDOW,
    SECOND_WINDOW,
    Exposure,
    Interval,
    Limits,
    RecentOrders,
    TradingMode,
)

_QUANTUM = Decimal("0.00000001")
_ORDER_COLUMNS = (
    "id",
    "organization_id",
    "vpp_id",
    "connection_id",
    "client_order_id",
    "market",
    "product",
    "delivery_start",
    "side",
    "order_type",
    "price",
    "quantity",
    "state",
    "body_hash",
    "created_at",
    "updated_at",
    "gate_closure",
    "filled",
    "filled_value",
    "venue_order_id",
    "reject_reason",
    "risk_rule",
    "cancel_requested",
    "version",
    "decision_id",
    "created_by",
)
_OPEN_STATES = sorted(s.value for s in OPEN)
# Statements built once (their cache keys too): orders are the hot path.
_o = t.trading_orders
_ROW_KEYS = (*_ORDER_COLUMNS, "avg_price")
# The order path's writes run as driver SQL (store/driver_sql.py): several per batch of orders.
_INSERT_ORDER = DriverStatement(_o.insert(), _ROW_KEYS)
_UPDATE_ORDER = DriverStatement(
    _o.update().where(_o.c.id == sa.bindparam("b_id"), _o.c.version == sa.bindparam("b_version")),
    (*_ROW_KEYS, "b_id", "b_version"),
)
_GET_ORDER = sa.select(_o).where(
    _o.c.organization_id == sa.bindparam("b_org"), _o.c.id == sa.bindparam("b_id")
)
# FOR NO KEY UPDATE on PostgreSQL: an order's id never changes, so inserting its events (a key
# check) need not wait for the lock (FOR UPDATE elsewhere).
_GET_ORDER_LOCKED = _GET_ORDER.with_for_update(key_share=True)
# Several orders by id, in id order (concurrent lockers take the row locks in one order).
_GET_ORDERS = (
    sa.select(_o).where(_o.c.id.in_(sa.bindparam("b_ids", expanding=True))).order_by(_o.c.id)
)
_GET_ORDERS_LOCKED = _GET_ORDERS.with_for_update(key_share=True)
_CLIENT_ID_TAKEN = sa.select(_o.c.id).where(
    _o.c.organization_id == sa.bindparam("b_org"),
    _o.c.client_order_id == sa.bindparam("b_cid"),
)
_TAKEN_CLIENT_IDS = sa.select(_o.c.client_order_id).where(
    _o.c.organization_id == sa.bindparam("b_org"),
    _o.c.client_order_id.in_(sa.bindparam("b_cids", expanding=True)),
)
_BY_CLIENT_ID = sa.select(_o).where(
    _o.c.organization_id == sa.bindparam("b_org"),
    _o.c.client_order_id == sa.bindparam("b_cid"),
)
_BY_CLIENT_IDS = sa.select(_o).where(
    _o.c.organization_id == sa.bindparam("b_org"),
    _o.c.client_order_id.in_(sa.bindparam("b_cids", expanding=True)),
)
_INSERT_EVENT = DriverStatement(
    t.trading_order_events.insert(), ("order_id", "at", "event", "state", "detail")
)
_OPEN = _o.c.state.in_(_OPEN_STATES)
_REST = _o.c.quantity - _o.c.filled
_ZERO = sa.literal(0, t.MONEY)
# The exposure as the orders add up to: to check the kept rows against (``recount_exposures``).
_SUMMED_EXPOSURES = sa.select(
    _o.c.vpp_id,
    _o.c.market,
    _o.c.product,
    _o.c.delivery_start,
    sa.func.sum(sa.case((_o.c.side == "buy", _o.c.filled), else_=-_o.c.filled)),
    sa.func.sum(sa.case((sa.and_(_OPEN, _o.c.side == "buy"), _REST), else_=_ZERO)),
    sa.func.sum(sa.case((sa.and_(_OPEN, _o.c.side == "sell"), _REST), else_=_ZERO)),
).group_by(_o.c.vpp_id, _o.c.market, _o.c.product, _o.c.delivery_start)
_x = t.trading_exposures
_X_KEY = ("organization_id", "vpp_id", "market", "product", "delivery_start")
_X_SUMS = ("net_filled", "open_buy", "open_sell")
_SCALE = Decimal(t.EXPOSURE_SCALE)
_EXPOSURE = sa.select(_x.c.net_filled, _x.c.open_buy, _x.c.open_sell).where(
    _x.c.organization_id == sa.bindparam("b_org"),
    _x.c.vpp_id == sa.bindparam("b_vpp"),
    _x.c.market == sa.bindparam("b_market"),
    _x.c.product == sa.bindparam("b_product"),
    _x.c.delivery_start == sa.bindparam("b_start", type_=UTCDateTime()),
)
_EXPOSURES = sa.select(*(_x.c[k] for k in _X_KEY[1:]), *(_x.c[k] for k in _X_SUMS)).where(
    _x.c.organization_id == sa.bindparam("b_org"),
    _x.c.vpp_id.in_(sa.bindparam("b_vpps", expanding=True)),
    _x.c.market.in_(sa.bindparam("b_markets", expanding=True)),
    _x.c.delivery_start.in_(sa.bindparam("b_starts", expanding=True, type_=UTCDateTime())),
)
_ExposureKey = tuple[str, str, str, str, datetime]  # organization, VPP, market, product, start


def _adding(table: sa.Table, sums: Sequence[str], dialect: Dialect) -> sa.Insert:
    """Insert a row, or add its ``sums`` to the one with its primary key (an upsert in one
    statement; row locks in the order of the rows given)."""
    if dialect.name in ("mysql", "mariadb"):
        ins = mysql.insert(table)
        return ins.on_duplicate_key_update({c: table.c[c] + ins.inserted[c] for c in sums})
    pg = postgresql.insert(table) if dialect.name == "postgresql" else sqlite.insert(table)
    return pg.on_conflict_do_update(
        index_elements=list(table.primary_key.columns),
        set_={c: table.c[c] + pg.excluded[c] for c in sums},
    )


_ADDING: dict[tuple[str, str], sa.Insert] = {}  # (table, dialect): statement


def _e8(value: Decimal) -> int:
    return int((value * _SCALE).to_integral_value(ROUND_HALF_EVEN))


def _exposure(net: int, buy: int, sell: int) -> Exposure:
    return Exposure(*(exact(Decimal(v) / _SCALE) for v in (net, buy, sell)))


_n = t.trading_order_counts
_N_KEY = ("organization_id", "vpp_id", "market", "step_ms", "step")
_SECOND_STEP_MS, _MINUTE_STEP_MS = 10, 1000  # the steps the two rate windows are counted in
_SECOND_STEPS = SECOND_WINDOW // timedelta(milliseconds=_SECOND_STEP_MS)  # steps per window
_MINUTE_STEPS = MINUTE_WINDOW // timedelta(milliseconds=_MINUTE_STEP_MS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RATE_WINDOW = (
    _n.c.organization_id == sa.bindparam("b_org"),
    _n.c.vpp_id == sa.bindparam("b_vpp"),
    _n.c.market == sa.bindparam("b_market"),
)
# One range of the primary key per window (an OR of the two would make SQLite scan every step
# of the VPP and market kept)
_RECENT = sa.union_all(
    *(
        sa.select(sa.literal(step_ms), sa.func.sum(_n.c.orders)).where(
            *_RATE_WINDOW, _n.c.step_ms == step_ms, _n.c.step >= sa.bindparam(since)
        )
        for step_ms, since in ((_SECOND_STEP_MS, "b_second"), (_MINUTE_STEP_MS, "b_minute"))
    )
)
# Steps older than twice their window: counted no more.
_PRUNE_COUNTS = _n.delete().where(
    *_RATE_WINDOW,
    sa.or_(
        sa.and_(_n.c.step_ms == _SECOND_STEP_MS, _n.c.step < sa.bindparam("b_second")),
        sa.and_(_n.c.step_ms == _MINUTE_STEP_MS, _n.c.step < sa.bindparam("b_minute")),
    ),
)
_PRUNE_EVERY_S = 30.0
_pruned: dict[tuple[int, str, str, str], float] = {}  # (engine id, org, VPP, market): monotonic


def _step(at: datetime, step_ms: int) -> int:
    return (at - _EPOCH) // timedelta(milliseconds=step_ms)


_VPP_EXISTS = sa.select(t.vpps.c.id).where(
    t.vpps.c.organization_id == sa.bindparam("b_org"), t.vpps.c.id == sa.bindparam("b_vpp")
)
_st = t.trading_states
_STATE = sa.select(_st).where(
    _st.c.organization_id == sa.bindparam("b_org"), _st.c.scope == sa.bindparam("b_scope")
)
_STATE_LOCKED = _STATE.with_for_update()
_lt = t.trading_limits
_LIMITS = sa.select(_lt.c.limits).where(
    _lt.c.organization_id == sa.bindparam("b_org"),
    _lt.c.vpp_id == sa.bindparam("b_vpp"),
    _lt.c.market == sa.bindparam("b_market"),
)


def _order_row(o: Order) -> dict[str, Any]:
    row = {name: getattr(o, name) for name in _ORDER_COLUMNS}
    row["state"] = o.state.value
    avg = o.avg_price
    row["avg_price"] = None if avg is None else avg.quantize(_QUANTUM)
    return row


def _order(row: Mapping[str, Any] | RowMapping) -> Order:
    values = {name: row[name] for name in _ORDER_COLUMNS}
    values["state"] = State(row["state"])
    for name in ("price", "quantity", "filled", "filled_value"):
        values[name] = exact(row[name])
    values["cancel_requested"] = bool(row["cancel_requested"])
    return Order(**values)


class TradingOrderRepo:
    """Orders with their event logs, and the exposure rows their writes keep current.

    Inserting or updating orders notes what each changes in the exposure of its interval
    (:meth:`Exposure.of` the order as written, less that of the order as it was); the unit of
    work writes those changes with :meth:`flush` just before it commits, one upsert for the
    whole transaction in key order, so that concurrent transactions lock exposure rows in one
    order, last, and never deadlock on them. Reads of the exposure in the transaction include
    what it has not written yet."""

    def __init__(self, conn: Connection) -> None:
        self._c = conn
        self._pending: dict[_ExposureKey, list[int]] = {}
        self._counted = Counter[tuple[str, str, str, int, int]]()  # trading_order_counts keys

    def _count(self, order: Order, sign: int) -> None:
        key = (
            order.organization_id,
            order.vpp_id,
            order.market,
            order.product,
            order.delivery_start,
        )
        self._note(key, Exposure.of(order), sign)

    def _note(self, key: _ExposureKey, e: Exposure, sign: int) -> None:
        if not (e.net_filled or e.open_buy or e.open_sell):
            return
        acc = self._pending.setdefault(key, [0, 0, 0])
        acc[0] += sign * _e8(e.net_filled)
        acc[1] += sign * _e8(e.open_buy)
        acc[2] += sign * _e8(e.open_sell)

    def correct_exposures(
        self,
        organization_id: str,
        corrections: Mapping[Interval, Exposure],
    ) -> None:
        """Add ``corrections`` (by VPP, market, product and delivery start) to the
        organization's exposure rows, with this transaction's other changes (:meth:`flush`)."""
        for key, e in corrections.items():
            self._note((organization_id, *key), e, 1)

    def flush(self) -> None:
        """Write the exposure changes and order counts of this transaction's order writes
        (the unit of work calls this just before it commits)."""
        pending, self._pending = self._pending, {}
        counted, self._counted = self._counted, Counter()
        self._add(
            t.trading_exposures,
            _X_SUMS,
            [
                {**dict(zip(_X_KEY, key, strict=True)), **dict(zip(_X_SUMS, sums, strict=True))}
                for key, sums in sorted(pending.items())
                if any(sums)
            ],
        )
        if counted:
            self._prune(counted)
            self._add(
                _n,
                ("orders",),
                [
                    {**dict(zip(_N_KEY, k, strict=True)), "orders": counted[k]}
                    for k in sorted(counted)
                ],
            )

    def _add(self, table: sa.Table, sums: Sequence[str], rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        dialect = self._c.dialect
        statement = _ADDING.get((table.name, dialect.name))
        if statement is None:
            statement = _ADDING[(table.name, dialect.name)] = _adding(table, sums, dialect)
        self._c.execute(statement, rows)

    def _prune(self, counted: Counter[tuple[str, str, str, int, int]]) -> None:
        """Delete the counted steps older than twice their window, for each VPP and market
        counted, at most every ``_PRUNE_EVERY_S`` per process (before adding: the old rows
        first, as every writer of them does)."""
        newest: dict[tuple[str, str, str], dict[int, int]] = {}
        for org, vpp, market, step_ms, step in counted:
            steps = newest.setdefault((org, vpp, market), {})
            steps[step_ms] = max(steps.get(step_ms, step), step)
        engine = id(self._c.engine)
        clock = time.monotonic()
        for (org, vpp, market), steps in sorted(newest.items()):
            key = (engine, org, vpp, market)
            if clock - _pruned.get(key, -_PRUNE_EVERY_S) < _PRUNE_EVERY_S:
                continue
            _pruned[key] = clock
            self._c.execute(
                _PRUNE_COUNTS,
                {
                    "b_org": org,
                    "b_vpp": vpp,
                    "b_market": market,
                    "b_second": steps[_SECOND_STEP_MS] - 2 * _SECOND_STEPS,
                    "b_minute": steps[_MINUTE_STEP_MS] - 2 * _MINUTE_STEPS,
                },
            )

    def discard(self) -> None:
        """Forget the exposure changes and counts not written (the transaction was rolled
        back)."""
        self._pending = {}
        self._counted = Counter()

    def insert(self, order: Order) -> None:
        """Insert; :class:`DuplicateOrder` when the client order id is taken (the unique
        constraint decides, also between concurrent inserts)."""
        self.insert_many([order])

    def insert_many(self, orders: Sequence[Order]) -> None:
        """Insert ``orders`` in one statement; :class:`DuplicateOrder` (naming the first
        order's client order id) when any client order id is taken, nothing inserted."""
        if not orders:
            return
        rows = [_order_row(o) for o in orders]
        try:
            _INSERT_ORDER.execute(self._c, rows)
        except IntegrityError as exc:
            raise DuplicateOrder(orders[0].client_order_id) from exc
        for o in orders:
            self._count(o, 1)
            if o.risk_rule is None:  # passed risk: counted by the order-rate limits
                for step_ms in (_SECOND_STEP_MS, _MINUTE_STEP_MS):
                    self._counted[
                        (
                            o.organization_id,
                            o.vpp_id,
                            o.market,
                            step_ms,
                            _step(o.created_at, step_ms),
                        )
                    ] += 1

    def update(self, order: Order, was: Order) -> None:
        """Write ``order`` over ``was``, the stored version (``order``'s version is one
        above it); a concurrent writer that got there first makes this a lost update,
        refused."""
        self.update_many([order], {was.id: was})

    def update_many(self, orders: Sequence[Order], was: Mapping[str, Order]) -> None:
        """:meth:`update` of several orders in one statement (``was``: the stored versions
        by id); a lost update of any is refused (the caller's transaction is to be rolled
        back)."""
        if not orders:
            return
        before = [was[o.id] for o in orders]
        if any(b.version != o.version - 1 for o, b in zip(orders, before, strict=True)):
            raise ValueError("update_many: every order's version is one above the one it was")
        params = [{**_order_row(o), "b_id": o.id, "b_version": o.version - 1} for o in orders]
        done = _UPDATE_ORDER.execute(self._c, params)
        if done.rowcount != len(orders):
            ids = ", ".join(o.id for o in orders)
            raise StaleOrder(f"orders {ids} changed concurrently ({done.rowcount} written)")
        for o, b in zip(orders, before, strict=True):
            self._count(b, -1)
            self._count(o, 1)

    def get(self, organization_id: str, order_id: str, *, lock: bool = False) -> Order | None:
        query = _GET_ORDER_LOCKED if lock else _GET_ORDER
        row = self._c.execute(query, {"b_org": organization_id, "b_id": order_id})
        found = row.mappings().first()
        return None if found is None else _order(found)

    def get_many(self, order_ids: Collection[str], *, lock: bool = False) -> dict[str, Order]:
        """The stored orders among ``order_ids`` (any organization: the caller checks), by
        id; ``lock``: row-locked in id order."""
        if not order_ids:
            return {}
        query = _GET_ORDERS_LOCKED if lock else _GET_ORDERS
        rows = self._c.execute(query, {"b_ids": sorted(set(order_ids))}).mappings()
        return {r["id"]: _order(r) for r in rows}

    def taken_client_ids(self, organization_id: str, client_order_ids: Collection[str]) -> set[str]:
        """Which of ``client_order_ids`` the organization has used."""
        if not client_order_ids:
            return set()
        if len(client_order_ids) == 1:  # no IN list to expand (a batch of one)
            (cid,) = client_order_ids
            found = self._c.execute(_CLIENT_ID_TAKEN, {"b_org": organization_id, "b_cid": cid})
            return {cid} if found.first() is not None else set()
        params = {"b_org": organization_id, "b_cids": sorted(set(client_order_ids))}
        return set(self._c.execute(_TAKEN_CLIENT_IDS, params).scalars())

    def vpp_exists(self, organization_id: str, vpp_id: str) -> bool:
        params = {"b_org": organization_id, "b_vpp": vpp_id}
        return self._c.execute(_VPP_EXISTS, params).first() is not None

    def by_client_id(self, organization_id: str, client_order_id: str) -> Order | None:
        params = {"b_org": organization_id, "b_cid": client_order_id}
        row = self._c.execute(_BY_CLIENT_ID, params).mappings().first()
        return None if row is None else _order(row)

    def by_client_ids(
        self, organization_id: str, client_order_ids: Collection[str]
    ) -> dict[str, Order]:
        """The organization's orders among ``client_order_ids``, by client order id (one
        query, no locks: lock them by id with :meth:`get_many`)."""
        if not client_order_ids:
            return {}
        params = {"b_org": organization_id, "b_cids": sorted(set(client_order_ids))}
        rows = self._c.execute(_BY_CLIENT_IDS, params).mappings()
        return {r["client_order_id"]: _order(r) for r in rows}

    def by_venue_id(self, connection_id: str, venue_order_id: str) -> Order | None:
        o = t.trading_orders
        row = (
            self._c.execute(
                sa.select(o).where(
                    o.c.connection_id == connection_id, o.c.venue_order_id == venue_order_id
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else _order(row)

    def page(self, organization_id: str, f: OrderFilter, limit: int, offset: int) -> list[Order]:
        o = t.trading_orders
        query = sa.select(o).where(o.c.organization_id == organization_id)
        for name in ("vpp_id", "market", "product", "side", "connection_id"):
            value = getattr(f, name)
            if value is not None:
                query = query.where(o.c[name] == value)
        if f.states:
            query = query.where(o.c.state.in_(sorted(f.states)))
        if f.delivery_from is not None:
            query = query.where(o.c.delivery_start >= f.delivery_from)
        if f.delivery_to is not None:
            query = query.where(o.c.delivery_start < f.delivery_to)
        query = query.order_by(o.c.created_at.desc(), o.c.id).limit(limit).offset(offset)
        return [_order(r) for r in self._c.execute(query).mappings()]

    def open_orders(
        self,
        organization_id: str | None = None,
        vpp_id: str | None = None,
        *,
        states: Collection[State] | None = None,
        closing_by: datetime | None = None,
        updated_before: datetime | None = None,
    ) -> list[Order]:
        """Orders not final (of an organization and VPP, in ``states``, with the gate closed
        by ``closing_by`` and last changed before ``updated_before`` when given), oldest
        first."""
        o = t.trading_orders
        wanted = _OPEN_STATES if states is None else sorted(s.value for s in states)
        query = sa.select(o).where(o.c.state.in_(wanted))
        if closing_by is not None:
            query = query.where(o.c.gate_closure <= closing_by)
        if updated_before is not None:
            query = query.where(o.c.updated_at < updated_before)
        if organization_id is not None:
            query = query.where(o.c.organization_id == organization_id)
        if vpp_id is not None:
            query = query.where(o.c.vpp_id == vpp_id)
        # sorted here: an ORDER BY makes PostgreSQL, which cannot tell that open orders have
        # their gates ahead (state and gate closure correlate), plan a parallel sort of
        # thousands of rows for the tick's read of none (ms instead of us)
        found = [_order(r) for r in self._c.execute(query).mappings()]
        return sorted(found, key=lambda order: (order.created_at, order.id))

    def open_connections(self) -> list[tuple[str, str]]:
        """(organization, connection) pairs of the configured connections that have open
        orders. One index lookup per connection and open state
        (``ix_trading_orders_connection_state``), however many orders there are: an ``IN``
        over the states would let MariaDB scan the connection's final orders too."""
        o, c = t.trading_orders, t.market_connections
        has_open = sa.or_(
            *(
                sa.select(o.c.id).where(o.c.connection_id == c.c.id, o.c.state == state).exists()
                for state in _OPEN_STATES
            )
        )
        rows = self._c.execute(sa.select(c.c.organization_id, c.c.id).where(has_open))
        return sorted((r[0], r[1]) for r in rows)

    def exposure(
        self, organization_id: str, vpp_id: str, market: str, product: str, start: datetime
    ) -> Exposure:
        """The interval's filled net position and open volume per side [MW] (its row)."""
        params = {
            "b_org": organization_id,
            "b_vpp": vpp_id,
            "b_market": market,
            "b_start": start,
            "b_product": product,
        }
        row = self._c.execute(_EXPOSURE, params).first()
        sums = [0, 0, 0] if row is None else [int(v) for v in row]
        return self._with_pending((organization_id, vpp_id, market, product, start), sums)

    def exposures(
        self, organization_id: str, intervals: Collection[Interval]
    ) -> dict[Interval, Exposure]:
        """:meth:`exposure` of several (VPP, market, product, delivery start) ``intervals`` of
        the organization, in one query; every interval asked for is in the answer."""
        if not intervals:
            return {}
        if len(intervals) == 1:  # the plain read: no IN lists to expand (a batch of one)
            (key,) = intervals
            return {key: self.exposure(organization_id, *key)}
        params = {
            "b_org": organization_id,
            "b_vpps": sorted({i[0] for i in intervals}),
            "b_markets": sorted({i[1] for i in intervals}),
            "b_starts": sorted({i[3] for i in intervals}),
        }
        found = {
            (vpp, market, product, start): [int(v) for v in sums]
            for vpp, market, product, start, *sums in self._c.execute(_EXPOSURES, params)
        }
        return {
            key: self._with_pending((organization_id, *key), found.get(key, [0, 0, 0]))
            for key in intervals
        }

    def _with_pending(self, key: _ExposureKey, sums: list[int]) -> Exposure:
        pending = self._pending.get(key)
        if pending is not None:
            sums = [a + b for a, b in zip(sums, pending, strict=True)]
        return _exposure(*sums)

    def kept_exposures(self, organization_id: str) -> dict[Interval, Exposure]:
        """The organization's exposure rows, by (VPP, market, product, delivery start)."""
        query = sa.select(*(_x.c[k] for k in _X_KEY[1:]), *(_x.c[k] for k in _X_SUMS)).where(
            _x.c.organization_id == organization_id
        )
        return {
            (vpp, market, product, start): _exposure(*(int(v) for v in sums))
            for vpp, market, product, start, *sums in self._c.execute(query)
            if any(sums)
        }

    def summed_exposures(self, organization_id: str) -> dict[Interval, Exposure]:
        """The organization's exposure as its orders add up to (every order read): what
        :meth:`kept_exposures` must equal, intervals with nothing in them aside."""
        query = _SUMMED_EXPOSURES.where(_o.c.organization_id == organization_id)
        out = {}
        for vpp, market, product, start, *sums in self._c.execute(query):
            e8 = [_e8(Decimal(0) if v is None else Decimal(v)) for v in sums]
            if any(e8):
                out[(vpp, market, product, start)] = _exposure(*e8)
        return out

    def recent_orders(
        self, organization_id: str, vpp_id: str, market: str, now: datetime
    ) -> RecentOrders:
        """Orders of the VPP on the market that passed risk, created within the second and
        the minute before ``now``, counted in steps of 10 ms and 1 s: each window may begin up
        to one step early (a count too high by at most one step's orders, never too low)."""
        second = _step(now - SECOND_WINDOW, _SECOND_STEP_MS)
        minute = _step(now - MINUTE_WINDOW, _MINUTE_STEP_MS)
        params = {
            "b_org": organization_id,
            "b_vpp": vpp_id,
            "b_market": market,
            "b_second": second,
            "b_minute": minute,
        }
        found = {int(k): int(v or 0) for k, v in self._c.execute(_RECENT, params)}
        for (org, vpp, mkt, step_ms, step), n in self._counted.items():
            if (org, vpp, mkt) == (organization_id, vpp_id, market) and step >= (
                second if step_ms == _SECOND_STEP_MS else minute
            ):
                found[step_ms] = found.get(step_ms, 0) + n
        return RecentOrders(found.get(_SECOND_STEP_MS, 0), found.get(_MINUTE_STEP_MS, 0))

    def add_event(
        self, order_id: str, at: datetime, event: str, state: State, detail: dict[str, Any]
    ) -> None:
        self.add_events([(order_id, at, event, state, detail)])

    def add_events(self, events: Sequence[EventRow]) -> None:
        """Append to the order event log (one statement for all)."""
        if events:
            rows = [
                {"order_id": o, "at": at, "event": e, "state": st.value, "detail": d}
                for o, at, e, st, d in events
            ]
            _INSERT_EVENT.execute(self._c, rows)

    def events(self, order_id: str) -> list[dict[str, Any]]:
        e = t.trading_order_events
        rows = self._c.execute(
            sa.select(e.c.at, e.c.event, e.c.state, e.c.detail)
            .where(e.c.order_id == order_id)
            .order_by(e.c.id)
        ).mappings()
        return [dict(r) for r in rows]

    def sessions(
        self, organization_id: str, market: str, product: str, starts: Sequence[datetime]
    ) -> dict[datetime, tuple[int, int]]:
        """Per delivery start: (orders, of which open)."""
        if not starts:
            return {}
        o = t.trading_orders
        is_open = sa.case((o.c.state.in_(_OPEN_STATES), 1), else_=0)
        rows = self._c.execute(
            sa.select(o.c.delivery_start, sa.func.count(), sa.func.sum(is_open))
            .where(
                o.c.organization_id == organization_id,
                o.c.market == market,
                o.c.product == product,
                o.c.delivery_start >= min(starts),
                o.c.delivery_start <= max(starts),
            )
            .group_by(o.c.delivery_start)
        )
        return {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}


def _fill(row: Mapping[str, Any] | RowMapping) -> FillRecord:
    values = dict(row)
    for name in ("price", "quantity"):
        values[name] = exact(values[name])
    return FillRecord(**values)


class TradingFillRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, fill: FillRecord) -> bool:
        """Insert the fill; ``False`` when its trade is stored already (the unique key, in a
        savepoint so that the transaction goes on)."""
        try:
            with self._c.begin_nested():
                self._c.execute(t.trading_fills.insert().values(**fill.row()))
        except IntegrityError:
            return False
        return True

    def trade_ids(self, order_id: str) -> frozenset[str]:
        f = t.trading_fills
        return frozenset(
            self._c.execute(sa.select(f.c.trade_id).where(f.c.order_id == order_id)).scalars()
        )

    def page(
        self,
        organization_id: str,
        *,
        order_id: str | None,
        vpp_id: str | None,
        limit: int,
        offset: int,
    ) -> list[FillRecord]:
        f = t.trading_fills
        query = sa.select(f).where(f.c.organization_id == organization_id)
        if order_id is not None:
            query = query.where(f.c.order_id == order_id)
        if vpp_id is not None:
            query = query.where(f.c.vpp_id == vpp_id)
        query = query.order_by(f.c.executed_at.desc(), f.c.id).limit(limit).offset(offset)
        return [_fill(r) for r in self._c.execute(query).mappings()]

    def cursor(self, connection_id: str, *, lock: bool = False) -> int | None:
        c = t.trading_fill_cursors
        query = sa.select(c.c.cursor).where(c.c.connection_id == connection_id)
        if lock:
            query = query.with_for_update()
        value = self._c.execute(query).scalar()
        return None if value is None else int(value)

    def set_cursor(self, connection_id: str, cursor: int, at: datetime) -> None:
        c = t.trading_fill_cursors
        done = self._c.execute(
            c.update()
            .where(c.c.connection_id == connection_id)
            .values(cursor=cursor, updated_at=at)
        )
        if done.rowcount == 0:
            self._c.execute(
                c.insert().values(connection_id=connection_id, cursor=cursor, updated_at=at)
            )


def _limits_json(limits: Limits) -> dict[str, Any]:
    return {k: (None if v is None else str(v)) for k, v in limits.as_dict().items()}


def _limits_of(data: Mapping[str, Any]) -> Limits:
    values: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            values[key] = None
        elif key.startswith("max_orders"):
            values[key] = int(value)
        else:
            values[key] = Decimal(value)
    return Limits(**values)


class TradingControlRepo:
    """Limits per (VPP, market) and the trading states (scope ``*`` = the organization)."""

    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def limits(self, organization_id: str, vpp_id: str, market: str) -> Limits | None:
        params = {"b_org": organization_id, "b_vpp": vpp_id, "b_market": market}
        data = self._c.execute(_LIMITS, params).scalar()
        return None if data is None else _limits_of(data)

    def all_limits(self, organization_id: str, vpp_id: str | None) -> list[dict[str, Any]]:
        lt = t.trading_limits
        query = sa.select(lt).where(lt.c.organization_id == organization_id)
        if vpp_id is not None:
            query = query.where(lt.c.vpp_id == vpp_id)
        rows = self._c.execute(query.order_by(lt.c.vpp_id, lt.c.market)).mappings()
        return [{**r, "limits": _limits_of(r["limits"])} for r in rows]

    def put_limits(
        self,
        organization_id: str,
        vpp_id: str,
        market: str,
        limits: Limits,
        at: datetime,
        by: str | None,
    ) -> None:
        lt = t.trading_limits
        where = (
            lt.c.organization_id == organization_id,
            lt.c.vpp_id == vpp_id,
            lt.c.market == market,
        )
        values = {"limits": _limits_json(limits), "updated_at": at, "updated_by": by}
        if self._c.execute(lt.update().where(*where).values(**values)).rowcount == 0:
            self._c.execute(
                lt.insert().values(
                    organization_id=organization_id, vpp_id=vpp_id, market=market, **values
                )
            )

    def state(self, organization_id: str, scope: str, *, lock: bool = False) -> StateRecord | None:
        query = _STATE_LOCKED if lock else _STATE
        row = (
            self._c.execute(query, {"b_org": organization_id, "b_scope": scope}).mappings().first()
        )
        if row is None:
            return None
        return StateRecord(
            organization_id=row["organization_id"],
            scope=row["scope"],
            mode=TradingMode(row["mode"]),
            reason=row["reason"],
            changed_by=row["changed_by"],
            changed_at=row["changed_at"],
        )

    def states(self, organization_id: str) -> list[StateRecord]:
        st = t.trading_states
        rows = self._c.execute(
            sa.select(st.c.scope)
            .where(st.c.organization_id == organization_id)
            .order_by(st.c.scope)
        ).scalars()
        return [s for s in (self.state(organization_id, scope) for scope in rows) if s]

    def add_state(self, record: StateRecord) -> bool:
        """Insert the row; ``False`` when it exists (a concurrent first use)."""
        try:
            with self._c.begin_nested():
                self._c.execute(
                    t.trading_states.insert().values(
                        organization_id=record.organization_id,
                        scope=record.scope,
                        mode=record.mode.value,
                        reason=record.reason,
                        changed_by=record.changed_by,
                        changed_at=record.changed_at,
                    )
                )
        except IntegrityError:
            return False
        return True

    def set_state(self, record: StateRecord) -> None:
        st = t.trading_states
        self._c.execute(
            st.update()
            .where(st.c.organization_id == record.organization_id, st.c.scope == record.scope)
            .values(
                mode=record.mode.value,
                reason=record.reason,
                changed_by=record.changed_by,
                changed_at=record.changed_at,
            )
        )


__all__ = ["TradingControlRepo", "TradingFillRepo", "TradingOrderRepo"]
