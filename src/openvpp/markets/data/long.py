"""The OpenVPP long format: any market data already in the shape of the stored history.

One row per value with the columns :data:`~openvpp.markets.data._common.COLUMNS` (any order,
no others): ``market``, ``area``, ``product`` (codes), ``series`` (lower-case name), ``start``
and ``known_at`` (ISO 8601 with a UTC offset, e.g. ``2026-03-29T01:00:00+01:00``, or
tz-aware Parquet timestamps), ``period_min`` (whole minutes, 1 to 1440), ``value`` (a number in
``unit``) and ``unit`` (e.g. ``EUR/MWh``). As CSV (comma-separated, UTF-8) or Parquet. A value
is never given a known-at time the file does not state: a row without one is rejected.

Rows with an invalid code, series, unit, time (naive or unparsable), period or value are
rejected and counted by reason; a file without the columns is a :class:`MarketDataError`.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd

from openvpp.markets.data._common import (
    CODE_RE,
    COLUMNS,
    SERIES_RE,
    MarketDataError,
    ParsedMarketData,
    ReportBuilder,
    check_bytes,
    decode_text,
    finish,
    part,
    split_table,
)

__all__ = ["FMT", "OPTIONS", "parse_long"]

FMT = "openvpp"
OPTIONS: tuple[str, ...] = ()
PARQUET_MAGIC = b"PAR1"
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")
_UNIT = re.compile(r"^[A-Za-z0-9/%._ -]{1,32}$")


def _cells(data: bytes) -> tuple[pd.DataFrame, pd.Series]:
    """The file as string cells named by header (Parquet values as text, timestamps as ISO
    8601 with offsets) and the 1-based line of each row."""
    if data[:4] == PARQUET_MAGIC:
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises many types (ArrowInvalid, OSError, ...)
            raise MarketDataError(f"{FMT}: unreadable Parquet file: {exc}"[:300]) from None
        cells = pd.DataFrame(index=pd.RangeIndex(len(frame)))
        for name in frame.columns:
            column = frame[name]
            if isinstance(column.dtype, pd.DatetimeTZDtype):
                stamps = column.dt.tz_convert("UTC")
                text = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00").fillna("")
            elif pd.api.types.is_datetime64_any_dtype(column.dtype):
                text = column.dt.strftime("%Y-%m-%dT%H:%M:%S").fillna("")  # naive: refused later
            else:
                text = column.astype(str)
            cells[str(name)] = text.reset_index(drop=True)
        return cells, pd.Series(np.arange(2, len(frame) + 2, dtype=np.int64))
    table = split_table(decode_text(data, FMT), ",", FMT)
    cells = pd.DataFrame(
        {name.strip(): table.column(i) for i, name in enumerate(table.header)}
    ).reset_index(drop=True)
    return cells, table.line.reset_index(drop=True)


def _instants(text: pd.Series) -> pd.Series:
    """ISO 8601 instants with an offset as UTC; naive, unparsable or out-of-range text (years
    outside 1900-2199) becomes NaT."""
    stripped = text.str.strip()
    year = pd.to_numeric(stripped.str.slice(0, 4), errors="coerce")
    usable = stripped.str.contains(_OFFSET) & year.between(1900, 2199)
    parsed = pd.to_datetime(stripped.where(usable), utc=True, errors="coerce", format="ISO8601")
    return parsed.astype("datetime64[ns, UTC]")


def parse_long(data: bytes) -> ParsedMarketData:
    """Parse a file in the OpenVPP long format (CSV or Parquet, see the module docstring)."""
    data = check_bytes(data, FMT)
    cells, line = _cells(data)
    missing = [c for c in COLUMNS if c not in cells.columns]
    extra = [c for c in cells.columns if c not in COLUMNS]
    if missing or extra:
        raise MarketDataError(
            f"{FMT}: line 1: columns must be exactly {list(COLUMNS)}; "
            f"missing {missing}, unexpected {extra[:5]}"
        )
    report = ReportBuilder(FMT)
    report.rows_read = len(cells)
    text = {c: cells[c].astype(str).str.strip() for c in COLUMNS}
    bad_code = ~(
        text["market"].str.fullmatch(CODE_RE)
        & text["area"].str.fullmatch(CODE_RE)
        & text["product"].str.fullmatch(CODE_RE)
    )
    bad_series = ~text["series"].str.fullmatch(SERIES_RE) & ~bad_code
    bad_unit = ~text["unit"].str.fullmatch(_UNIT) & ~bad_code & ~bad_series
    start, known = _instants(text["start"]), _instants(text["known_at"])
    bad_time = (start.isna() | known.isna()) & ~bad_code & ~bad_series & ~bad_unit
    period = pd.to_numeric(text["period_min"], errors="coerce")
    value = pd.to_numeric(text["value"], errors="coerce")
    earlier = bad_code | bad_series | bad_unit | bad_time
    bad_period = ~period.between(1, 1440) | (period % 1 != 0)
    bad_period &= ~earlier
    bad_value = value.isna() & ~earlier & ~bad_period
    for reason, mask, column in (
        ("invalid_code", bad_code, "market"),
        ("invalid_series", bad_series, "series"),
        ("invalid_unit", bad_unit, "unit"),
        ("time_without_offset_or_unparsable", bad_time, "start"),
        ("invalid_period", bad_period, "period_min"),
        ("invalid_value", bad_value, "value"),
    ):
        report.add_mask("rejected", reason, mask, line, text[column])
    keep = ~(earlier | bad_period | bad_value)
    piece = part(
        market=text["market"][keep],
        area=text["area"][keep],
        product=text["product"][keep],
        series="",
        unit="",
        start=start[keep],
        period_min=period[keep].astype("int64"),
        value=value[keep].astype("float64"),
        known_at=known[keep],
        line=line[keep],
    )
    piece["series"] = text["series"][keep]
    piece["unit"] = text["unit"][keep]
    return finish([piece], report)
