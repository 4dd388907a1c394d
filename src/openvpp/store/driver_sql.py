"""Hot-path INSERTs and UPDATEs as driver SQL: compiled once per dialect, run with plain rows.

Executing a Core statement costs SQLAlchemy's per-statement work (the compiled-cache lookup,
the execution context, events) and, for every row of an ``executemany``, its parameter
handling: about twice what the driver's own ``executemany`` costs
(``bench/bench_statement_overhead.py``). The order path writes several statements per batch
of orders; :class:`DriverStatement` runs them through ``Connection.exec_driver_sql``: the SQL
is the one SQLAlchemy compiles for the connection's dialect (so the statement stays written
once, in Core), each value goes through its column type's own bind processor (so values are
stored exactly as every other statement stores them), and the connection, its transaction,
its events and its error translation (``IntegrityError`` and the rest) are SQLAlchemy's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, CursorResult, Dialect

__all__ = ["DriverStatement"]

_Processor = Callable[[Any], Any] | None
_Prepared = tuple[str, tuple[str, ...], tuple[_Processor, ...], bool]


class DriverStatement:
    """An INSERT or UPDATE (no expanding parameters) with the bind parameters ``keys``: for an
    INSERT the columns it writes, for an UPDATE its SET columns and its WHERE parameters."""

    def __init__(self, statement: sa.Insert | sa.Update, keys: Sequence[str]) -> None:
        self._statement = statement
        self._keys = list(keys)
        self._prepared: dict[str, _Prepared] = {}

    def _prepare(self, dialect: Dialect) -> _Prepared:
        found = self._prepared.get(dialect.name)
        if found is None:
            compiled = self._statement.compile(dialect=dialect, column_keys=self._keys)
            positional = bool(dialect.positional)
            names = tuple(compiled.positiontup or ()) if positional else tuple(compiled.binds)
            processors = tuple(
                compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                for name in names
            )
            found = (compiled.string, names, processors, positional)
            self._prepared[dialect.name] = found
        return found

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> CursorResult[Any]:
        """Run for every row of ``rows`` (a mapping holding each key): one ``executemany``,
        or one ``execute`` for a single row. The result's ``rowcount`` is the driver's (the
        rows written in all)."""
        sql, names, processors, positional = self._prepare(conn.dialect)
        pairs = tuple(zip(names, processors, strict=True))
        params: list[Any]
        if positional:
            params = [tuple(row[n] if p is None else p(row[n]) for n, p in pairs) for row in rows]
        else:
            params = [{n: row[n] if p is None else p(row[n]) for n, p in pairs} for row in rows]
        return conn.exec_driver_sql(sql, params if len(params) > 1 else params[0])
