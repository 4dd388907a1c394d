"""Shared pieces of the market data parsers: result types, the error, the report builder and
vectorized cell parsing (numbers, naive local times, day-ahead known-at instants).

Nothing here loops over rows in Python: tables are split with pandas string methods and every
check is a boolean mask, so a 50,000-row file parses in a few tens of milliseconds.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import time as wall_time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from numpy.typing import NDArray

MAX_BYTES = 200 * 1024 * 1024
"""Largest input accepted [bytes]; bigger input is refused with :class:`MarketDataError`."""

COLUMNS = (
    "market",
    "area",
    "product",
    "series",
    "start",
    "period_min",
    "value",
    "unit",
    "known_at",
)
"""Columns of :attr:`ParsedMarketData.frame`, in this order."""

KEY = ("market", "area", "product", "series", "start", "known_at")
"""Columns that identify a value; no two rows of a frame share them."""

MAX_ABS_VALUE = 1e9
"""Largest magnitude of an emitted value [unit of the row]; larger ones are rejected."""

DECIMALS = 6
"""Values are rounded to this many decimals."""

EARLIEST = pd.Timestamp("1900-01-01", tz="UTC")
LATEST = pd.Timestamp("2200-01-01", tz="UTC")
"""Accepted range of interval starts and known-at instants [UTC]."""

MAX_EXAMPLES = 3
"""Examples kept per (kind, reason) in a :class:`ParseReport`."""

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
SERIES_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_NUMBER_RE = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?"
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

IssueKind = Literal["repaired", "rejected", "skipped"]


class MarketDataError(ValueError):
    """A market data file cannot be parsed; the message names the line, column or element and
    the offending value."""


@dataclass(frozen=True)
class RowIssue:
    """One example of a repaired, rejected or skipped row.

    ``line`` is the 1-based line in the file (the header is line 1) or ``None`` for XML, where
    ``detail`` names the element instead.
    """

    kind: IssueKind
    reason: str
    line: int | None
    detail: str


@dataclass(frozen=True)
class ParseReport:
    """What a parser did with its input, for an importer to show.

    ``rows_read`` counts data rows (CSV lines without header and blank lines, Parquet rows, XML
    points); ``values_emitted`` is the length of the frame. ``repaired``, ``rejected`` and
    ``skipped`` count rows per reason: repaired rows are emitted with a corrected value or time,
    rejected rows are dropped because they are invalid, skipped rows are dropped by design
    (a later tender, a summary line, a ``-`` cell, an area filter).
    """

    format: str
    rows_read: int
    values_emitted: int
    repaired: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    examples: tuple[RowIssue, ...] = ()

    def summary(self) -> str:
        """One line per non-empty category, e.g. ``repaired: eur_dropped_zero=2491``."""
        parts = [f"{self.format}: {self.rows_read} rows read, {self.values_emitted} values"]
        for name, counts in (
            ("repaired", self.repaired),
            ("rejected", self.rejected),
            ("skipped", self.skipped),
        ):
            if counts:
                parts.append(f"{name}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
        return "\n".join(parts)


@dataclass(frozen=True)
class ParsedMarketData:
    """A parsed file: the long ``frame`` (columns :data:`COLUMNS`) and its ``report``.

    frame columns: ``market``, ``area``, ``product``, ``series``, ``unit`` [str]; ``start``
    [datetime64[ns, UTC], interval start]; ``period_min`` [int64, min]; ``value`` [float64,
    finite, rounded to 6 decimals, in ``unit``]; ``known_at`` [datetime64[ns, UTC], when the
    value became public]. Sorted by :data:`KEY`, which is unique.
    """

    frame: pd.DataFrame
    report: ParseReport


class ReportBuilder:
    """Collects per-reason counts and a few examples while a parser runs."""

    def __init__(self, fmt: str) -> None:
        self.format = fmt
        self.rows_read = 0
        self._counts: dict[IssueKind, dict[str, int]] = {
            "repaired": {},
            "rejected": {},
            "skipped": {},
        }
        self._examples: list[RowIssue] = []

    def add(
        self,
        kind: IssueKind,
        reason: str,
        lines: Sequence[int | None] | NDArray[np.int64],
        details: Sequence[str] | str = "",
    ) -> None:
        """Count ``len(lines)`` rows under ``reason`` and keep the first few as examples."""
        count = len(lines)
        if count == 0:
            return
        counts = self._counts[kind]
        counts[reason] = counts.get(reason, 0) + count
        kept = sum(1 for e in self._examples if e.kind == kind and e.reason == reason)
        for i in range(min(count, MAX_EXAMPLES - kept)):
            line = lines[i]
            detail = details if isinstance(details, str) else str(details[i])
            self._examples.append(
                RowIssue(kind, reason, None if line is None else int(line), detail[:200])
            )

    def add_mask(
        self,
        kind: IssueKind,
        reason: str,
        mask: pd.Series,
        lines: pd.Series,
        details: pd.Series | str = "",
    ) -> None:
        """:meth:`add` for the rows where ``mask`` is true."""
        if not bool(mask.any()):
            return
        picked = lines[mask].to_numpy(dtype=np.int64)
        if isinstance(details, str):
            self.add(kind, reason, picked, details)
        else:
            self.add(kind, reason, picked, details[mask].head(MAX_EXAMPLES).astype(str).tolist())

    def build(self, values_emitted: int) -> ParseReport:
        return ParseReport(
            format=self.format,
            rows_read=self.rows_read,
            values_emitted=values_emitted,
            repaired=dict(self._counts["repaired"]),
            rejected=dict(self._counts["rejected"]),
            skipped=dict(self._counts["skipped"]),
            examples=tuple(self._examples),
        )


# ---------------------------------------------------------------------------------- options


def check_bytes(data: object, fmt: str) -> bytes:
    """``data`` as bytes, refusing other types and input above :data:`MAX_BYTES`."""
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise MarketDataError(f"{fmt}: expected bytes, got {type(data).__name__}")
    if len(data) > MAX_BYTES:
        raise MarketDataError(
            f"{fmt}: input is {len(data)} bytes, more than the limit of {MAX_BYTES} bytes"
        )
    return data


def option_code(value: object, option: str) -> str:
    """A market, area or product code (``A-Z 0-9 _ -``, up to 32 characters)."""
    if not isinstance(value, str) or not CODE_RE.fullmatch(value):
        raise MarketDataError(
            f"option {option}={value!r}: expected a code of A-Z, 0-9, '_' and '-' "
            "(up to 32 characters), e.g. 'EU-SDAC'"
        )
    return value


def option_series(value: object, option: str) -> str:
    """A series name (lower-case ``a-z 0-9 _``, starting with a letter)."""
    if not isinstance(value, str) or not SERIES_RE.fullmatch(value):
        raise MarketDataError(
            f"option {option}={value!r}: expected a lower-case name of a-z, 0-9 and '_', "
            "e.g. 'load_forecast'"
        )
    return value


def option_unit(value: object, option: str) -> str:
    """A unit label such as ``EUR/MWh`` (1 to 32 printable characters)."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9/%._ -]{1,32}", value):
        raise MarketDataError(f"option {option}={value!r}: expected a unit such as 'EUR/MWh'")
    return value


def option_zone(value: object, option: str) -> str:
    """An IANA time zone name."""
    if not isinstance(value, str):
        raise MarketDataError(f"option {option}={value!r}: expected an IANA time zone name")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory, e.g. 'Europe'
        raise MarketDataError(
            f"option {option}={value!r}: unknown IANA time zone, e.g. 'Europe/Berlin'"
        ) from None
    return value


def option_time(value: object, option: str) -> wall_time:
    """A local wall-clock time written ``'HH:MM'``."""
    match = _HHMM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise MarketDataError(f"option {option}={value!r}: expected 'HH:MM', e.g. '12:00'")
    return wall_time(int(match.group(1)), int(match.group(2)))


def option_period(value: object, option: str) -> int:
    """An interval length [min], 1 to 1440."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1440:
        raise MarketDataError(f"option {option}={value!r}: expected minutes from 1 to 1440")
    return value


def slug(name: str) -> str:
    """``'Grid load forecast'`` -> ``'grid_load_forecast'``; ``''`` if nothing is left."""
    text = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:64]
    if text and not text[0].isalpha():
        text = f"x_{text}"[:64]
    return text.rstrip("_")


# ----------------------------------------------------------------------------------- tables


def decode_text(data: bytes, fmt: str) -> str:
    """UTF-8 text (a byte-order mark is dropped); refuses NUL bytes and invalid UTF-8."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MarketDataError(
            f"{fmt}: not UTF-8 text, invalid byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from None
    if "\x00" in text:
        raise MarketDataError(f"{fmt}: NUL character at offset {text.index(chr(0))}")
    return text


@dataclass(frozen=True)
class Table:
    """A delimited text table: header names, cells (one str column per header name, in
    order, ``''`` where a row is short) and the 1-based file line of each row."""

    header: list[str]
    cells: pd.DataFrame
    line: pd.Series

    def column(self, index: int) -> pd.Series:
        return self.cells.iloc[:, index]


def split_table(text: str, sep: str, fmt: str) -> Table:
    """Split ``text`` into a :class:`Table`; the first line is the header, blank lines are
    dropped, cells are stripped of blanks and double quotes. Rows with more cells than the
    header keep the surplus in their last cell."""
    text = re.sub(r"\r\n?", "\n", text)
    first, _, rest = text.partition("\n")
    header = [h.strip(_STRIP) for h in first.split(sep)]
    if not any(header):
        raise MarketDataError(f"{fmt}: line 1: empty header, expected column names")
    if len(header) > 1000:
        raise MarketDataError(f"{fmt}: line 1: {len(header)} columns, more than 1000")
    width = len(header)
    cells = _read_fast(rest, sep, width)
    if cells is None:
        body = pd.Series(rest.split("\n") if rest else [], dtype=object)
        if width > 1 and len(body):
            cells = body.str.split(sep, n=width - 1, expand=True, regex=False)
        else:
            cells = pd.DataFrame({0: body})
        for i in range(cells.shape[1], width):
            cells[i] = ""
    numbers = pd.Series(np.arange(2, len(cells) + 2, dtype=np.int64))
    cells = pd.DataFrame(
        {i: cells[i].fillna("").astype(str).str.strip(_STRIP) for i in range(width)},
        index=numbers.index,
    )
    keep = (cells != "").any(axis=1)
    return Table(
        header=header,
        cells=cells[keep].reset_index(drop=True),
        line=numbers[keep].reset_index(drop=True),
    )


_STRIP = ' \t\x0b\x0c"'


def _read_fast(body: str, sep: str, width: int) -> pd.DataFrame | None:
    """The C CSV reader on a well-formed body (every row at most ``width`` cells), else None."""
    if not body.strip():
        return None
    try:
        cells = pd.read_csv(
            io.StringIO(body),
            sep=sep,
            header=None,
            names=list(range(width)),
            dtype=str,
            quoting=csv.QUOTE_NONE,
            na_filter=False,
            skip_blank_lines=False,
            lineterminator="\n",
            engine="c",
        )
    except (ValueError, pd.errors.ParserError, OverflowError, MemoryError):
        return None
    expected = body.count("\n") + (0 if body.endswith("\n") else 1)
    # a row with more cells than the header turns the surplus into an index: fall back
    if not isinstance(cells.index, pd.RangeIndex) or len(cells) != expected:
        return None
    return cells


def find_column(header: list[str], pattern: str, fmt: str, what: str) -> int:
    """Index of the first header matching ``pattern`` (case-insensitive regex)."""
    regex = re.compile(pattern, re.IGNORECASE)
    for i, name in enumerate(header):
        if regex.fullmatch(name):
            return i
    raise MarketDataError(f"{fmt}: line 1: no column {what} in header {header[:12]!r}")


def parse_numbers(cells: pd.Series, decimal: str = ".") -> pd.Series:
    """Numbers written with ``decimal`` as decimal mark [float64]; NaN where a cell is not a
    plain number (thousands separators, text, empty). Non-finite results stay as +-inf.
    Numeric columns (from Parquet) are returned as float64."""
    if pd.api.types.is_numeric_dtype(cells.dtype) and not pd.api.types.is_bool_dtype(cells.dtype):
        return cells.astype("float64")
    text = cells.astype(str).str.strip()
    if decimal != ".":
        text = text.where(~text.str.contains(".", regex=False), "x")
        text = text.str.replace(decimal, ".", regex=False)
    valid = text.str.fullmatch(_NUMBER_RE) & (text.str.len() <= 40)
    out = pd.Series(np.nan, index=cells.index, dtype="float64")
    if bool(valid.any()):
        with np.errstate(all="ignore"):
            out[valid] = text[valid].astype("float64")
    return out


def parse_naive_times(cells: pd.Series, fmt: str | None = None) -> pd.Series:
    """Naive wall-clock timestamps [datetime64[ns]]; NaT where a cell does not match ``fmt``
    (default: ISO 8601 date with optional time) or lies outside 1900-2199."""
    text = cells.astype(str).str.strip()
    if fmt is None:
        ok = text.str.fullmatch(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?")
        text = text.where(ok, "")
        fmt = "ISO8601"
    try:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    except (ValueError, OverflowError, TypeError):  # pragma: no cover - defensive
        parsed = pd.Series(pd.NaT, index=cells.index, dtype="datetime64[ns]")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):  # pragma: no cover - fmt has no offset
        parsed = parsed.dt.tz_localize(None)
    years = parsed.dt.year
    parsed = parsed.where((years >= 1900) & (years < 2200))
    return parsed.astype("datetime64[ns]")


def localize(
    naive: pd.Series, zone: str, ambiguous: NDArray[np.bool_] | Literal["NaT"] = "NaT"
) -> pd.Series:
    """Naive local times in ``zone`` -> [datetime64[ns, UTC]]; NaT for times that do not exist
    (spring forward) and, unless ``ambiguous`` (True = summer time) says, for repeated ones."""
    aware = naive.dt.tz_localize(zone, ambiguous=ambiguous, nonexistent="NaT")
    utc: pd.Series = aware.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    return utc


def day_ahead_known_at(
    start: pd.Series,
    zone: str,
    publication: wall_time,
    publication_zone: str | None = None,
    days_before: int = 1,
) -> pd.Series:
    """Known-at instants of a day-ahead rule [datetime64[ns, UTC]]: ``days_before`` days before
    the delivery day (local date of ``start`` in ``zone``) at ``publication`` local time in
    ``publication_zone`` (default ``zone``). Repeated local times take the later instant and
    skipped ones the next existing instant, so the rule never answers too early."""
    day = start.dt.tz_convert(zone).dt.tz_localize(None).dt.normalize()
    local = day - pd.Timedelta(days=days_before)
    local = local + pd.Timedelta(hours=publication.hour, minutes=publication.minute)
    aware = local.dt.tz_localize(
        publication_zone or zone,
        ambiguous=np.zeros(len(local), dtype=bool),
        nonexistent="shift_forward",
    )
    utc: pd.Series = aware.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    return utc


# ------------------------------------------------------------------------------- the frame


def part(
    *,
    market: str | pd.Series,
    area: str | pd.Series,
    product: str | pd.Series,
    series: str,
    unit: str,
    start: pd.Series,
    period_min: int | pd.Series,
    value: pd.Series,
    known_at: pd.Series,
    line: pd.Series,
) -> pd.DataFrame:
    """One long-format piece of a frame (all series aligned on the same index), plus the
    ``line`` helper column used for reporting and dropped by :func:`finish`."""
    frame = pd.DataFrame(
        {
            "start": start,
            "period_min": period_min,
            "value": value,
            "known_at": known_at,
            "line": line,
        }
    )
    frame.insert(0, "market", market)
    frame.insert(1, "area", area)
    frame.insert(2, "product", product)
    frame.insert(3, "series", series)
    frame.insert(7, "unit", unit)
    return frame


def empty_frame() -> pd.DataFrame:
    """A frame with the :data:`COLUMNS` and their dtypes and no rows."""
    return pd.DataFrame(
        {
            "market": pd.Series([], dtype=str),
            "area": pd.Series([], dtype=str),
            "product": pd.Series([], dtype=str),
            "series": pd.Series([], dtype=str),
            "start": pd.Series([], dtype="datetime64[ns, UTC]"),
            "period_min": pd.Series([], dtype="int64"),
            "value": pd.Series([], dtype="float64"),
            "unit": pd.Series([], dtype=str),
            "known_at": pd.Series([], dtype="datetime64[ns, UTC]"),
        }
    )


def finish(parts: list[pd.DataFrame], report: ReportBuilder) -> ParsedMarketData:
    """Validate, round, sort and de-duplicate the parts into a :class:`ParsedMarketData`.

    Rows whose value is missing were already counted by the parser and are dropped silently;
    non-finite or too large values, times outside 1900-2199 and non-positive periods are
    rejected here. Of rows sharing a :data:`KEY` the one from the earliest line is kept.
    """
    parts = [p for p in parts if len(p)]
    if not parts:
        return ParsedMarketData(empty_frame(), report.build(0))
    frame = pd.concat(parts, ignore_index=True)
    frame = frame[frame["value"].notna()]
    line = frame["line"]
    value = frame["value"].astype("float64")
    bad_value = ~pd.Series(np.isfinite(value), index=value.index) | (value.abs() > MAX_ABS_VALUE)
    report.add_mask("rejected", "value_out_of_range", bad_value, line, value.astype(str))
    start = frame["start"]
    known = frame["known_at"]
    bad_time = (
        start.isna()
        | known.isna()
        | (start < EARLIEST)
        | (start >= LATEST)
        | (known < EARLIEST)
        | (known >= LATEST)
    )
    report.add_mask("rejected", "time_out_of_range", bad_time & ~bad_value, line)
    period = frame["period_min"]
    bad_period = (period <= 0) & ~bad_time & ~bad_value
    report.add_mask("rejected", "invalid_period", bad_period, line, period.astype(str))
    frame = frame[~(bad_value | bad_time | bad_period)].copy()
    frame["value"] = np.round(frame["value"].astype("float64"), DECIMALS) + 0.0
    for name in ("market", "area", "product", "series", "unit"):
        frame[name] = frame[name].astype(str)
    frame["period_min"] = frame["period_min"].astype("int64")
    # the history stores microseconds: finer digits would make distinct rows collide there
    frame["start"] = frame["start"].astype("datetime64[ns, UTC]").dt.floor("us")
    frame["known_at"] = frame["known_at"].astype("datetime64[ns, UTC]").dt.floor("us")
    frame = frame.sort_values([*KEY, "line"], kind="mergesort")
    dup = frame.duplicated(list(KEY), keep="first")
    if bool(dup.any()):
        first = frame[dup].head(MAX_EXAMPLES)
        report.add(
            "rejected",
            "duplicate",
            frame["line"][dup].to_numpy(dtype=np.int64),
            (first["series"] + " at " + first["start"].astype(str)).tolist(),
        )
    frame = frame[~dup].drop(columns="line").reset_index(drop=True)
    frame = frame[list(COLUMNS)]
    return ParsedMarketData(frame, report.build(len(frame)))
