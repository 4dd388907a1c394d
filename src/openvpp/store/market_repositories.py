"""Market data, its imports, venue connections and their health checks. Like every repository,
these never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from openvpp.markets.records import (
    ConnectionCheck,
    MarketConnection,
    MarketDataImport,
    SeriesInfo,
    SeriesKey,
)
from openvpp.store import tables as t

_VALUE_QUANTUM = Decimal("0.000001")
_KEY = ("market", "area", "product", "series")
_INSERT_SQLITE = (
    "INSERT INTO market_data (organization_id, market, area, product, series, start, known_at, "
    "period_min, value, unit, import_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)
_INSERT_POSTGRESQL = (
    "INSERT INTO market_data (organization_id, market, area, product, series, start, known_at, "
    "period_min, value, unit, import_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT DO NOTHING"
)
_INSERT_IGNORE = _INSERT_POSTGRESQL.replace("INSERT INTO", "INSERT IGNORE INTO").replace(
    " ON CONFLICT DO NOTHING", ""
)


def _timestamps(conn: Connection, values: pd.Series) -> list[Any]:
    """UTC timestamps bound exactly as ``UTCDateTime`` binds them on this connection."""
    process = t.market_data.c.start.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    stamps = [ts.to_pydatetime() for ts in values]
    return stamps if process is None else [process(ts) for ts in stamps]


class MarketDataRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def stored(
        self, organization_id: str, key: SeriesKey, start: datetime, end: datetime
    ) -> pd.DataFrame:
        """Every vintage of ``key`` with ``start`` in ``[start, end]`` [UTC]: columns ``start``,
        ``known_at``, ``period_min``, ``value`` (float), ``unit``."""
        md = t.market_data
        rows = self._c.execute(
            sa.select(md.c.start, md.c.known_at, md.c.period_min, md.c.value, md.c.unit)
            .where(
                md.c.organization_id == organization_id,
                *(md.c[k] == getattr(key, k) for k in _KEY),
                md.c.start >= start,
                md.c.start <= end,
            )
            .order_by(md.c.start, md.c.known_at)
        ).all()
        names = ["start", "known_at", "period_min", "value", "unit"]
        # column-wise construction: several times faster than from Row objects
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
        frame = pd.DataFrame(dict(zip(names, map(list, columns), strict=True))).astype(
            {"period_min": "int64", "value": "float64", "unit": "object"}
        )
        for column in ("start", "known_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

    def add_many(self, organization_id: str, import_id: str, frame: pd.DataFrame) -> int:
        """Insert the rows of a parsed frame; a (key, start, known_at) stored already is
        skipped. Returns the number of rows inserted."""
        if frame.empty:
            return 0
        dialect = self._c.dialect.name
        if dialect == "sqlite":
            values: list[Any] = [round(float(v), 6) for v in frame["value"]]
        else:
            values = [Decimal(repr(float(v))).quantize(_VALUE_QUANTUM) for v in frame["value"]]
        columns = zip(
            frame["market"],
            frame["area"],
            frame["product"],
            frame["series"],
            _timestamps(self._c, frame["start"]),
            _timestamps(self._c, frame["known_at"]),
            (int(p) for p in frame["period_min"]),
            values,
            frame["unit"],
            strict=True,
        )
        rows = [(organization_id, *row, import_id) for row in columns]
        sql = {"sqlite": _INSERT_SQLITE, "postgresql": _INSERT_POSTGRESQL}.get(
            dialect, _INSERT_IGNORE
        )
        return int(self._c.exec_driver_sql(sql, rows).rowcount)

    def catalog(self, organization_id: str, market: str | None) -> list[SeriesInfo]:
        """Each stored series with its unit, interval length, value count and range."""
        md = t.market_data
        query = (
            sa.select(
                *(md.c[k] for k in _KEY),
                md.c.unit,
                md.c.period_min,
                sa.func.count().label("values"),
                sa.func.min(md.c.start).label("first_start"),
                sa.func.max(md.c.start).label("last_start"),
                sa.func.max(md.c.known_at).label("last_known_at"),
            )
            .where(md.c.organization_id == organization_id)
            .group_by(*(md.c[k] for k in _KEY), md.c.unit, md.c.period_min)
            .order_by(*(md.c[k] for k in _KEY), md.c.period_min)
        )
        if market is not None:
            query = query.where(md.c.market == market)
        return [
            SeriesInfo(
                key=SeriesKey(r.market, r.area, r.product, r.series),
                unit=r.unit,
                period_min=r.period_min,
                values=r.values,
                first_start=r.first_start,
                last_start=r.last_start,
                last_known_at=r.last_known_at,
            )
            for r in self._c.execute(query)
        ]


class MarketImportRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, record: MarketDataImport) -> None:
        self._c.execute(t.market_data_imports.insert().values(**record.row()))

    def set_counts(self, import_id: str, *, stored: int, duplicates: int, conflicts: int) -> None:
        self._c.execute(
            t.market_data_imports.update()
            .where(t.market_data_imports.c.id == import_id)
            .values(values_stored=stored, duplicates=duplicates, conflicts=conflicts)
        )

    def page(self, organization_id: str, limit: int, offset: int) -> list[MarketDataImport]:
        mi = t.market_data_imports
        rows = self._c.execute(
            sa.select(mi)
            .where(mi.c.organization_id == organization_id)
            .order_by(mi.c.imported_at.desc(), mi.c.id)
            .limit(limit)
            .offset(offset)
        ).mappings()
        return [MarketDataImport(**row) for row in rows]


_mc = t.market_connections
# Built once: every batch of order submissions reads its organization's connections.
_CONNECTIONS = sa.select(_mc).order_by(_mc.c.organization_id, _mc.c.name)
_CONNECTIONS_OF_ORG = _CONNECTIONS.where(_mc.c.organization_id == sa.bindparam("b_org"))


class MarketConnectionRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, connection: MarketConnection) -> None:
        self._c.execute(t.market_connections.insert().values(**connection.row()))

    def update(self, connection: MarketConnection) -> None:
        mc = t.market_connections
        self._c.execute(mc.update().where(mc.c.id == connection.id).values(**connection.row()))

    def get(
        self, organization_id: str, connection_id: str, *, lock: bool = False
    ) -> MarketConnection | None:
        mc = t.market_connections
        query = sa.select(mc).where(
            mc.c.organization_id == organization_id, mc.c.id == connection_id
        )
        if lock:
            query = query.with_for_update()
        row = self._c.execute(query).mappings().first()
        return None if row is None else MarketConnection(**row)

    def name_taken(self, organization_id: str, name: str, except_id: str | None = None) -> bool:
        mc = t.market_connections
        query = sa.select(mc.c.id).where(mc.c.organization_id == organization_id, mc.c.name == name)
        if except_id is not None:
            query = query.where(mc.c.id != except_id)
        return self._c.execute(query.limit(1)).first() is not None

    def of_org(self, organization_id: str | None) -> list[MarketConnection]:
        """The organization's connections (all organizations' when ``None``), by name."""
        if organization_id is None:
            rows = self._c.execute(_CONNECTIONS).mappings()
        else:
            rows = self._c.execute(_CONNECTIONS_OF_ORG, {"b_org": organization_id}).mappings()
        return [MarketConnection(**row) for row in rows]

    def all_credentials(self) -> list[tuple[str, str]]:
        """(id, encrypted credentials) of every connection, for key rotation."""
        mc = t.market_connections
        return [
            (r.id, r.credentials) for r in self._c.execute(sa.select(mc.c.id, mc.c.credentials))
        ]

    def set_credentials(self, connection_id: str, token: str) -> None:
        mc = t.market_connections
        self._c.execute(mc.update().where(mc.c.id == connection_id).values(credentials=token))

    def delete(self, connection_id: str) -> None:
        mcc, mc = t.market_connection_checks, t.market_connections
        self._c.execute(mcc.delete().where(mcc.c.connection_id == connection_id))
        self._c.execute(mc.delete().where(mc.c.id == connection_id))

    def add_check(self, check: ConnectionCheck) -> None:
        self._c.execute(t.market_connection_checks.insert().values(**check.row()))

    def checks(self, connection_id: str, limit: int) -> Sequence[ConnectionCheck]:
        mcc = t.market_connection_checks
        rows = self._c.execute(
            sa.select(mcc)
            .where(mcc.c.connection_id == connection_id)
            .order_by(mcc.c.checked_at.desc(), mcc.c.id)
            .limit(limit)
        ).mappings()
        return [ConnectionCheck(**row) for row in rows]
