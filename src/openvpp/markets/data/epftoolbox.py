"""epftoolbox benchmark price files (Lago et al. 2021): CSV or Parquet.

Layout: first column the delivery hour (naive timestamp), second the price, then any number of
exogenous day-ahead forecasts (load, wind, generation). Column names differ between files
(``Price``, ``Prices``, ``Zonal COMED price``), so columns are taken by position.

The files are DST-normalised: every day has 24 rows. By default the naive timestamps are read
as UTC, which gives 24 distinct hourly intervals per day and keeps every row; with a real
``time_zone`` the hour skipped in spring is rejected (``nonexistent_local_time``) and the
repeated autumn hour is taken as summer time.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from openvpp.markets.data._common import (
    MarketDataError,
    ParsedMarketData,
    ReportBuilder,
    Table,
    check_bytes,
    day_ahead_known_at,
    decode_text,
    finish,
    localize,
    option_code,
    option_period,
    option_series,
    option_time,
    option_unit,
    option_zone,
    parse_naive_times,
    parse_numbers,
    part,
    slug,
    split_table,
)

FMT = "epftoolbox"
PARQUET_MAGIC = b"PAR1"

OPTIONS = (
    "market",
    "area",
    "product",
    "time_zone",
    "publication_time",
    "publication_time_zone",
    "unit",
    "exog_series",
    "exog_unit",
    "period_min",
)


def parse_epftoolbox(
    data: bytes,
    *,
    market: str | None = None,
    area: str = "ALL",
    product: str = "H",
    time_zone: str = "UTC",
    publication_time: str = "12:00",
    publication_time_zone: str | None = None,
    unit: str = "EUR/MWh",
    exog_series: Sequence[str] | Mapping[str, str] | None = None,
    exog_unit: str = "MW",
    period_min: int = 60,
) -> ParsedMarketData:
    """Parse an epftoolbox price file (CSV, or Parquet recognised by its ``PAR1`` magic).

    Parameters
    ----------
    data : file content [bytes].
    market : market code, required, e.g. ``'EU-SDAC'`` or ``'US-ISO-DA'``.
    area : area code; :func:`read_market_file` passes the file stem (``NP``, ``PJM``, ``BE``).
    product : product code of every row.
    time_zone : IANA zone the naive timestamps are read in; default ``UTC`` (see module doc).
    publication_time : local time ``'HH:MM'`` on the day before delivery when prices and
        forecasts become known.
    publication_time_zone : zone of ``publication_time``; default ``time_zone``. For PJM use
        ``'13:30'`` in ``'America/New_York'`` (the PJM day-ahead results).
    unit : unit of the price column, e.g. ``'USD/MWh'`` for PJM.
    exog_series : series names of the exogenous columns, by position (sequence) or by column
        name (mapping); default the slugified column name, ``exog_<n>`` when that is empty.
    exog_unit : unit of the exogenous columns [MW by default].
    period_min : interval length [min].

    Returns
    -------
    ParsedMarketData with series ``price`` and one series per exogenous column. ``known_at`` is
    day D-1 at ``publication_time`` for delivery day D (local date in ``time_zone``).
    """
    data = check_bytes(data, FMT)
    market = option_code(market, "market")
    area = option_code(area, "area")
    product = option_code(product, "product")
    zone = option_zone(time_zone, "time_zone")
    pub_zone = option_zone(publication_time_zone or zone, "publication_time_zone")
    published = option_time(publication_time, "publication_time")
    unit = option_unit(unit, "unit")
    exog_unit = option_unit(exog_unit, "exog_unit")
    period = option_period(period_min, "period_min")

    table = _read_parquet(data) if data[:4] == PARQUET_MAGIC else _read_csv(data)
    if len(table.header) < 2:
        raise MarketDataError(
            f"{FMT}: line 1: expected at least 2 columns (timestamp, price), got {table.header!r}"
        )
    report = ReportBuilder(FMT)
    report.rows_read = len(table.cells)
    line = table.line

    naive = parse_naive_times(table.column(0))
    bad_time = naive.isna()
    report.add_mask(
        "rejected", f"invalid_timestamp in column {table.header[0]!r}", bad_time, line,
        table.column(0),
    )  # fmt: skip
    if zone == "UTC":
        start = naive.dt.tz_localize("UTC").astype("datetime64[ns, UTC]")
    else:
        start = localize(naive, zone, ambiguous=np.ones(len(naive), dtype=bool))
        report.add_mask(
            "rejected", "nonexistent_local_time", start.isna() & ~bad_time, line, table.column(0)
        )
    ok = start.notna()
    start, line_ok = start[ok], line[ok]
    known_at = day_ahead_known_at(start, zone, published, pub_zone)

    names = _series_names(table.header, exog_series)
    parts = []
    for i, name in enumerate(names, start=1):
        raw = table.column(i)[ok]
        value = parse_numbers(raw)
        report.add_mask(
            "rejected",
            f"invalid_number in column {table.header[i]!r}",
            value.isna(),
            line_ok,
            raw,
        )
        parts.append(
            part(
                market=market,
                area=area,
                product=product,
                series=name,
                unit=unit if i == 1 else exog_unit,
                start=start,
                period_min=period,
                value=value,
                known_at=known_at,
                line=line_ok,
            )
        )
    return finish(parts, report)


def _series_names(header: list[str], exog: Sequence[str] | Mapping[str, str] | None) -> list[str]:
    columns = header[2:]
    if isinstance(exog, Mapping):
        names = [exog.get(c, slug(c)) for c in columns]
    elif exog is not None:
        if isinstance(exog, str) or len(exog) != len(columns):
            raise MarketDataError(
                f"option exog_series={exog!r}: expected {len(columns)} names for the "
                f"exogenous columns {columns!r}"
            )
        names = list(exog)
    else:
        names = [slug(c) for c in columns]
    names = [n or f"exog_{i}" for i, n in enumerate(names, start=1)]
    names = ["price", *(option_series(n, "exog_series") for n in names)]
    if len(set(names)) != len(names):
        raise MarketDataError(
            f"{FMT}: line 1: series names {names!r} are not unique; pass exog_series"
        )
    return names


def _read_csv(data: bytes) -> Table:
    text = decode_text(data, FMT)
    first = text.split("\n", 1)[0]
    sep = ";" if first.count(";") > first.count(",") else ","
    return split_table(text, sep, FMT)


def _read_parquet(data: bytes) -> Table:
    """A Parquet file as a :class:`Table` of strings (a datetime index becomes column 0)."""
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises many types (ArrowInvalid, OSError, ...)
        raise MarketDataError(f"{FMT}: unreadable Parquet file: {exc}"[:300]) from None
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index()
    if frame.shape[1] > 1000:
        raise MarketDataError(f"{FMT}: {frame.shape[1]} columns, more than 1000")
    header = [str(c) for c in frame.columns]
    cells = {}
    for i, name in enumerate(frame.columns):
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        if pd.api.types.is_datetime64_any_dtype(column.dtype):
            text = column.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
        elif pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
            column.dtype
        ):
            text = column.astype("float64")
        else:
            text = column.astype(str)
        cells[i] = text.reset_index(drop=True)
    line = pd.Series(np.arange(2, len(frame) + 2, dtype=np.int64))
    return Table(header=header, cells=pd.DataFrame(cells, index=line.index), line=line)
