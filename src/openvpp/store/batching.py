"""Statement sizes every backend accepts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

IN_CHUNK = 1000  # ids per IN list: SQLite allows 32,766 bound values, MariaDB 65,535


def in_chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    """``ids`` in slices of at most ``IN_CHUNK``."""
    for i in range(0, len(ids), IN_CHUNK):
        yield ids[i : i + IN_CHUNK]
