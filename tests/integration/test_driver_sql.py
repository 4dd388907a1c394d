"""``store/driver_sql.py`` against the real databases: a row written as driver SQL is stored
exactly as the same Core statement stores it; an UPDATE's row count is the rows written in
all (the versioned order update relies on it); a unique violation is SQLAlchemy's
``IntegrityError``, as from any statement."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from openvpp.runtime import Runtime
from openvpp.store.driver_sql import DriverStatement
from openvpp.store.tables import MONEY
from openvpp.store.types import UTCDateTime

_meta = sa.MetaData()
_probe = sa.Table(
    "driver_sql_probe",
    _meta,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("amount", MONEY, nullable=True),
    sa.Column("detail", sa.JSON(), nullable=False),
    sa.Column("flag", sa.Boolean(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
)
_KEYS = ("id", "at", "amount", "detail", "flag", "version")
_INSERT = DriverStatement(_probe.insert(), _KEYS)
_UPDATE = DriverStatement(
    _probe.update().where(
        _probe.c.id == sa.bindparam("b_id"), _probe.c.version == sa.bindparam("b_version")
    ),
    ("amount", "version", "b_id", "b_version"),
)


@pytest.fixture
def engine(runtime: Runtime) -> Iterator[sa.Engine]:
    _meta.drop_all(runtime.engine)
    _meta.create_all(runtime.engine)
    try:
        yield runtime.engine
    finally:
        _meta.drop_all(runtime.engine)


def _row(key: str, **over: Any) -> dict[str, Any]:
    return {
        "id": key,
        "at": datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        "amount": Decimal("-1234.56789012"),
        "detail": {"venue": "ß ok", "n": [1, 2.5, None]},
        "flag": True,
        "version": 1,
        **over,
    }


def _stored(engine: sa.Engine) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    """Every row but its id, by id: through Core (the column types applied) and raw (the
    driver's own values)."""
    with engine.connect() as conn:
        typed = {r[0]: tuple(r[1:]) for r in conn.execute(sa.select(_probe))}
        raw = conn.exec_driver_sql(
            "SELECT id, at, amount, detail, flag, version FROM driver_sql_probe"
        ).all()
    return typed, {r[0]: tuple(r[1:]) for r in raw}


def test_driver_rows_are_stored_as_core_stores_them(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(_probe.insert(), [_row("core-1"), _row("core-2", amount=None, flag=False)])
        _INSERT.execute(conn, [_row("drv-1"), _row("drv-2", amount=None, flag=False)])
        _INSERT.execute(conn, [_row("drv-3")])  # a single row: execute, not executemany
    typed, raw = _stored(engine)
    assert raw["drv-1"] == raw["core-1"] == raw["drv-3"]
    assert raw["drv-2"] == raw["core-2"]
    assert typed["drv-1"] == typed["core-1"]
    assert typed["drv-2"] == typed["core-2"]
    assert typed["drv-1"][:3] == (
        datetime(2026, 3, 28, 23, 30, 0, 123456, tzinfo=UTC),
        Decimal("-1234.56789012"),
        {"venue": "ß ok", "n": [1, 2.5, None]},
    )


def test_an_update_counts_the_rows_it_wrote_in_all(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        _INSERT.execute(conn, [_row(f"u-{i}") for i in range(3)])
    changes = [
        {"amount": Decimal(i), "version": 2, "b_id": f"u-{i}", "b_version": 1 if i < 2 else 7}
        for i in range(3)
    ]
    with engine.begin() as conn:
        done = _UPDATE.execute(conn, changes)
        assert done.rowcount == 2  # u-2's version is not 7: not written
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.select(_probe.c.id, _probe.c.version)).all())
    assert rows == {"u-0": 2, "u-1": 2, "u-2": 1}


def test_a_unique_violation_is_sqlalchemys_integrity_error(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        _INSERT.execute(conn, [_row("dup")])
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        _INSERT.execute(conn, [_row("other"), _row("dup")])
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(_probe)).scalar_one() == 1
