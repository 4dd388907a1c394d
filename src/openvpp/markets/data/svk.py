"""Svenska kraftnät aFRR capacity export (``Period;Elområde;aFRR Upp Pris (EUR/MW);...``).

Layout: UTF-8 with byte-order mark, ``;``-separated, decimal comma, a trailing ``;`` on the
header, a last ``Summa`` line (skipped and counted). ``Period`` is the local Europe/Stockholm
start of an hourly interval. In autumn the repeated hour is written ``02:01`` (the second,
winter-time 02:00; counted as repaired ``dst_repeated_hour_label``); an hour that simply appears
twice is read in file order, summer time first. ``Elområde`` is empty in the 2020-2021
exports, so the area comes from the ``area`` option (default ``SE``) unless the cell names one.

Series ``price_up`` and ``price_down`` [EUR/MW], ``volume_up`` and ``volume_down`` [MW]; market
``SE-AFRR``, product ``H``. known_at: ``Publiceringstidpunkt`` (local Stockholm) by default. The
exports were (re)published months later, so this is late but safe. ``known_at='day_ahead'``
uses D-1 ``publication_time`` (default 12:00) instead; the latest exports show D-2
publication, so D-1 noon is not earlier than reality.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from openvpp.markets.data._common import (
    CODE_RE,
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
    option_period,
    option_time,
    parse_naive_times,
    parse_numbers,
    part,
    split_table,
)

FMT = "svk_afrr"
ZONE = "Europe/Stockholm"
OPTIONS = ("market", "area", "product", "known_at", "publication_time", "period_min")
_SERIES = (
    (r"aFRR\s+Upp\s+Pris.*", "price_up", "EUR/MW"),
    (r"aFRR\s+Upp\s+Volym.*", "volume_up", "MW"),
    (r"aFRR\s+Ned\s+Pris.*", "price_down", "EUR/MW"),
    (r"aFRR\s+Ned\s+Volym.*", "volume_down", "MW"),
)


def parse_svk_afrr(
    data: bytes,
    *,
    market: str = "SE-AFRR",
    area: str = "SE",
    product: str = "H",
    known_at: str = "published",
    publication_time: str = "12:00",
    period_min: int = 60,
) -> ParsedMarketData:
    """Parse a Svenska kraftnät aFRR export (see module doc).

    Parameters
    ----------
    data : file content [bytes].
    market, product : codes of every row.
    area : area of rows whose ``Elområde`` cell is empty.
    known_at : ``'published'`` (the ``Publiceringstidpunkt`` column) or ``'day_ahead'``.
    publication_time : local Stockholm time ``'HH:MM'`` on D-1 for ``known_at='day_ahead'``.
    period_min : interval length [min].

    Returns
    -------
    ParsedMarketData with series ``price_up``, ``volume_up``, ``price_down``, ``volume_down``.
    """
    data = check_bytes(data, FMT)
    market = option_code(market, "market")
    area = option_code(area, "area")
    product = option_code(product, "product")
    published = option_time(publication_time, "publication_time")
    period = option_period(period_min, "period_min")
    if known_at not in ("published", "day_ahead"):
        raise MarketDataError(f"option known_at={known_at!r}: expected 'published' or 'day_ahead'")
    table = split_table(decode_text(data, FMT), ";", FMT)
    header = table.header
    c_period = find_column(header, r"Period", FMT, "'Period'")
    c_area = find_column(header, r"Elomr.de", FMT, "'Elområde'")
    columns = [(find_column(header, p, FMT, repr(s)), s, u) for p, s, u in _SERIES]
    report = ReportBuilder(FMT)
    report.rows_read = len(table.cells)
    line = table.line

    summa = table.column(c_period).str.lower().str.startswith("summa")
    report.add_mask("skipped", "summary row", summa, line, table.column(c_period))
    start = _interval_start(table.column(c_period), line, report)
    bad_time = start.isna() & ~summa
    report.add_mask("rejected", "invalid Period", bad_time, line, table.column(c_period))

    areas = table.column(c_area).str.upper()
    areas = areas.where(areas != "", area)
    bad_area = ~areas.str.fullmatch(CODE_RE.pattern) & ~summa & ~bad_time
    report.add_mask("rejected", "invalid Elområde", bad_area, line, table.column(c_area))
    keep = start.notna() & ~summa & ~bad_area

    if known_at == "published":
        c_pub = find_column(header, r"Publiceringstidpunkt", FMT, "'Publiceringstidpunkt'")
        naive = parse_naive_times(table.column(c_pub), "%Y-%m-%d %H:%M")
        known = naive.dt.tz_localize(
            ZONE, ambiguous=np.zeros(len(naive), dtype=bool), nonexistent="shift_forward"
        ).dt.tz_convert("UTC")
        bad_known = keep & known.isna()
        report.add_mask(
            "rejected", "invalid Publiceringstidpunkt", bad_known, line, table.column(c_pub)
        )
        keep &= ~bad_known
        known = known[keep].astype("datetime64[ns, UTC]")
    else:
        known = day_ahead_known_at(start[keep], ZONE, published)

    parts = []
    for index, series, unit in columns:
        raw = table.column(index)[keep]
        value = parse_numbers(raw, decimal=",")
        report.add_mask(
            "rejected", f"invalid number in {header[index]!r}", value.isna(), line[keep], raw
        )
        parts.append(
            part(
                market=market,
                area=areas[keep],
                product=product,
                series=series,
                unit=unit,
                start=start[keep],
                period_min=period,
                value=value,
                known_at=known,
                line=line[keep],
            )
        )
    return finish(parts, report)


def _interval_start(cells: pd.Series, line: pd.Series, report: ReportBuilder) -> pd.Series:
    """Local ``Period`` -> [UTC]; ``HH:01`` in a repeated hour is its winter-time twin."""
    naive = parse_naive_times(cells, "%Y-%m-%d %H:%M")
    back = naive - pd.Timedelta(minutes=1)
    summer = localize(back, ZONE, ambiguous=np.ones(len(back), dtype=bool))
    winter = localize(back, ZONE, ambiguous=np.zeros(len(back), dtype=bool))
    label = (naive.dt.minute == 1) & summer.notna() & (summer != winter)
    report.add_mask("repaired", "dst_repeated_hour_label", label, line, cells)
    first = (naive.groupby(naive).cumcount() == 0).to_numpy()
    start = localize(naive, ZONE, ambiguous=first)
    return start.where(~label, winter)
