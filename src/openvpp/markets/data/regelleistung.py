"""regelleistung.net FCR capacity tender results (``RESULT_CAPACITY_*_FCR.csv``).

Layout: comma-separated, dates ``DD/MM/YYYY``, one row per tender and product block with per
area columns ``<AREA>_SETTLEMENTCAPACITY_PRICE_[EUR/MW]``, ``<AREA>_DEMAND_[MW]`` and
``<AREA>_IMPORT(-)_EXPORT(+)_[MW]`` (areas AT, BE, CH, DE, DK, FR, NL, SI and a CROSSBORDER
price). Some years carry trailing junk columns (``Column1,,``), which are ignored.

Only ``TENDER_NUMBER == 1`` is kept (later tenders are skipped and counted). ``PRODUCTNAME``
``NEGPOS_<hh>_<hh>`` gives the block in Europe/Berlin local time: ``NEGPOS_00_24`` one day,
``NEGPOS_00_04`` ... ``NEGPOS_20_24`` 4-hour blocks. Block start and end are converted to UTC
separately, so ``period_min`` is the real length (180 or 300 min for the night block of a DST
day, 1380 or 1500 for a daily product). All rows get market ``DE-FCR`` and product ``FCR``
(the block is given by ``start`` and ``period_min``). Series ``capacity_price`` [EUR/MW per
block] and ``demand`` [MW]; a ``-`` cell is skipped and counted.

known_at: since July 2020 the FCR auction closes at 08:00 on D-1 and results follow within the
hour; the parser uses D-1 09:00 Europe/Berlin (``publication_time``). Earlier daily tenders
closed before that, so the rule is late for them, never early.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from openvpp.markets.data._common import (
    MarketDataError,
    ParsedMarketData,
    ReportBuilder,
    check_bytes,
    day_ahead_known_at,
    decode_text,
    find_column,
    finish,
    localize,
    option_code,
    option_time,
    parse_naive_times,
    parse_numbers,
    part,
    split_table,
)

FMT = "regelleistung_fcr"
ZONE = "Europe/Berlin"
OPTIONS = ("market", "product", "areas", "publication_time")
_VALUE_COLUMNS = (
    (r"([A-Z]+)_SETTLEMENTCAPACITY_PRICE_\[EUR/MW\]", "capacity_price", "EUR/MW"),
    (r"([A-Z]+)_DEMAND_\[MW\]", "demand", "MW"),
)


def parse_regelleistung_fcr(
    data: bytes,
    *,
    market: str = "DE-FCR",
    product: str = "FCR",
    areas: Iterable[str] | None = None,
    publication_time: str = "09:00",
) -> ParsedMarketData:
    """Parse a regelleistung.net FCR ``RESULT_CAPACITY`` CSV (see module doc).

    Parameters
    ----------
    data : file content [bytes].
    market, product : codes of every row.
    areas : keep only these areas (e.g. ``['DE', 'CROSSBORDER']``); default all.
    publication_time : local Berlin time ``'HH:MM'`` on D-1 when the results are known.

    Returns
    -------
    ParsedMarketData with series ``capacity_price`` [EUR/MW] and ``demand`` [MW].
    """
    data = check_bytes(data, FMT)
    market = option_code(market, "market")
    product = option_code(product, "product")
    published = option_time(publication_time, "publication_time")
    wanted = None if areas is None else _areas(areas)
    table = split_table(decode_text(data, FMT), ",", FMT)
    header = table.header
    c_date = find_column(header, r"DATE_FROM", FMT, "'DATE_FROM'")
    c_tender = find_column(header, r"TENDER_NUMBER", FMT, "'TENDER_NUMBER'")
    c_name = find_column(header, r"PRODUCTNAME", FMT, "'PRODUCTNAME'")
    report = ReportBuilder(FMT)
    report.rows_read = len(table.cells)
    line = table.line

    tender = parse_numbers(table.column(c_tender))
    bad_tender = tender.isna()
    report.add_mask("rejected", "invalid TENDER_NUMBER", bad_tender, line, table.column(c_tender))
    later = ~bad_tender & (tender != 1)
    report.add_mask("skipped", "tender_number_not_1", later, line, table.column(c_tender))
    keep = ~bad_tender & ~later

    day = parse_naive_times(table.column(c_date), "%d/%m/%Y")
    bad_day = keep & day.isna()
    report.add_mask("rejected", "invalid DATE_FROM", bad_day, line, table.column(c_date))
    blocks = table.column(c_name).str.extract(r"^NEGPOS_(\d\d)_(\d\d)$")
    first = pd.to_numeric(blocks[0], errors="coerce")
    last = pd.to_numeric(blocks[1], errors="coerce")
    bad_block = keep & ~bad_day & ~((first >= 0) & (first < last) & (last <= 24))
    report.add_mask("rejected", "invalid PRODUCTNAME", bad_block, line, table.column(c_name))
    keep &= ~bad_day & ~bad_block

    day, first, last, line = day[keep], first[keep], last[keep], line[keep]
    start = localize(day + pd.to_timedelta(first, unit="h"), ZONE)
    end = localize(day + pd.to_timedelta(last, unit="h"), ZONE)
    no_time = start.isna() | end.isna()
    report.add_mask("rejected", "nonexistent local block time", no_time, line)
    start, end, line = start[~no_time], end[~no_time], line[~no_time]
    rows = start.index
    period = ((end - start).dt.total_seconds() // 60).astype("int64")
    known_at = day_ahead_known_at(start, ZONE, published)

    parts = []
    matched = False
    for i, name in enumerate(header):
        for pattern, series, unit in _VALUE_COLUMNS:
            if not re.fullmatch(pattern, name):
                continue
            matched = True
            area = name.split("_", 1)[0]
            if wanted is not None and area not in wanted:
                continue
            raw = table.column(i)[rows]
            missing = raw.isin(["-", ""])
            report.add_mask("skipped", "missing value ('-')", missing, line, f"{name} is '-'")
            value = parse_numbers(raw)
            report.add_mask(
                "rejected", f"invalid number in {name}", value.isna() & ~missing, line, raw
            )
            parts.append(
                part(
                    market=market,
                    area=area,
                    product=product,
                    series=series,
                    unit=unit,
                    start=start,
                    period_min=period,
                    value=value,
                    known_at=known_at,
                    line=line,
                )
            )
    if not matched:
        raise MarketDataError(
            f"{FMT}: line 1: no column <AREA>_SETTLEMENTCAPACITY_PRICE_[EUR/MW] or "
            "<AREA>_DEMAND_[MW] in the header"
        )
    return finish(parts, report)


def _areas(areas: Iterable[str]) -> frozenset[str]:
    if isinstance(areas, str):
        raise MarketDataError(f"option areas={areas!r}: expected a list of area codes")
    try:
        return frozenset(option_code(a, "areas") for a in areas)
    except TypeError:
        raise MarketDataError(f"option areas={areas!r}: expected a list of area codes") from None
