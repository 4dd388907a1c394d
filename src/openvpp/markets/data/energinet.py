"""Energi Data Service (Energinet) ``Elspotprices`` CSV: hourly day-ahead (SDAC) prices.

Layout: ``;``-separated, decimal comma, header ``HourUTC;HourDK;PriceArea;SpotPriceDKK;
SpotPriceEUR`` (the EUR header may carry trailing commas). Emits market ``EU-SDAC``, area from
``PriceArea``, product ``H``, series ``price`` [EUR/MWh] and ``price_dkk`` [DKK/MWh].

Two defects of the published export are repaired and counted in the report:

* ``eur_dropped_zero``: the leading zeros of the EUR fraction were lost (30.04 written as
  ``30,40001``, 32.009998 as ``32,9998``). Each day's EUR/DKK rate is estimated as the median
  DKK/EUR ratio of that day's plausible rows (7.2 to 7.7, around the ERM II central rate
  7.46038; the file-wide median when a day has fewer than 12 such rows). Where re-inserting
  one to three zeros after the decimal comma fits the DKK price at least 10 times better than
  the written value (and within the tolerance below), the best-fitting candidate is taken;
  it reproduces the original value exactly.
* ``eur_inconsistent`` / ``eur_missing``: any other EUR value more than 0.5 % (at least
  0.05 DKK) away from DKK/rate, or a missing EUR value next to a valid DKK value, is replaced
  by DKK/rate.
* ``hour_utc_mismatch``: the interval start is derived from ``HourDK`` in Europe/Copenhagen
  (the repeated autumn hour is resolved by ``HourUTC``); where ``HourUTC`` disagrees, the
  ``HourDK`` time is used (one row of the DK1 2020-2021 export, HourDK 2021-12-31 11:00 with
  HourUTC 2021-12-30 10:00).

known_at: SDAC results are published at about 12:45 CET on the day before delivery; the parser
uses D-1 13:00 Europe/Copenhagen (``publication_time``), a little later, never earlier.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from openvpp.markets.data._common import (
    CODE_RE,
    MAX_EXAMPLES,
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

FMT = "energinet"
ZONE = "Europe/Copenhagen"
OPTIONS = ("market", "product", "publication_time")

RATE_BAND = (7.2, 7.7)
"""Plausible EUR/DKK rates [DKK/EUR] used to estimate the day's rate."""
RATE_FALLBACK = 7.46038
"""ERM II central rate [DKK/EUR], used when no row of the file gives a plausible ratio."""
MIN_DAY_ROWS = 12
"""A day's own rate is used when it has this many plausible rows, else the file's median."""
TOLERANCE = (0.005, 0.05)
"""A EUR value is consistent when |EUR x rate - DKK| <= max(0.5 % of |DKK|, 0.05 DKK)."""


def parse_energinet(
    data: bytes,
    *,
    market: str = "EU-SDAC",
    product: str = "H",
    publication_time: str = "13:00",
) -> ParsedMarketData:
    """Parse an Energi Data Service ``Elspotprices`` export (see module doc for repairs).

    Parameters
    ----------
    data : file content [bytes].
    market, product : codes of every row.
    publication_time : local Copenhagen time ``'HH:MM'`` on D-1 when prices become known.

    Returns
    -------
    ParsedMarketData with series ``price`` [EUR/MWh] and ``price_dkk`` [DKK/MWh], 60 min.
    """
    data = check_bytes(data, FMT)
    market = option_code(market, "market")
    product = option_code(product, "product")
    published = option_time(publication_time, "publication_time")
    table = split_table(decode_text(data, FMT), ";", FMT)
    header = table.header
    c_utc = find_column(header, r"HourUTC", FMT, "'HourUTC'")
    c_dk = find_column(header, r"HourDK", FMT, "'HourDK'")
    c_area = find_column(header, r"PriceArea", FMT, "'PriceArea'")
    c_dkk = find_column(header, r"SpotPriceDKK,*", FMT, "'SpotPriceDKK'")
    c_eur = find_column(header, r"SpotPriceEUR,*", FMT, "'SpotPriceEUR'")
    report = ReportBuilder(FMT)
    report.rows_read = len(table.cells)
    line = table.line

    start = _interval_start(table.column(c_utc), table.column(c_dk), line, report)
    area = table.column(c_area).str.upper()
    bad_area = ~area.str.fullmatch(CODE_RE.pattern) & start.notna()
    report.add_mask("rejected", "invalid PriceArea", bad_area, line, table.column(c_area))
    dkk = parse_numbers(table.column(c_dkk), decimal=",")
    eur = _repair_eur(table.column(c_eur), dkk, table.column(c_dk).str[:10], line, report)
    valid = start.notna() & ~bad_area
    report.add_mask(
        "rejected", "invalid SpotPriceDKK", valid & dkk.isna(), line, table.column(c_dkk)
    )
    report.add_mask(
        "rejected",
        "invalid SpotPriceEUR",
        valid & eur.isna() & dkk.notna(),
        line,
        table.column(c_eur),
    )
    start, line, area = start[valid], line[valid], area[valid]
    known_at = day_ahead_known_at(start, ZONE, published)
    common = {
        "market": market,
        "area": area,
        "product": product,
        "start": start,
        "period_min": 60,
        "known_at": known_at,
        "line": line,
    }
    parts = [
        part(series="price", unit="EUR/MWh", value=eur[valid], **common),  # type: ignore[arg-type]
        part(series="price_dkk", unit="DKK/MWh", value=dkk[valid], **common),  # type: ignore[arg-type]
    ]
    return finish(parts, report)


def _interval_start(
    hour_utc: pd.Series, hour_dk: pd.Series, line: pd.Series, report: ReportBuilder
) -> pd.Series:
    """Interval start [UTC] from HourDK, HourUTC deciding the repeated autumn hour."""
    fmt = "%Y-%m-%d %H:%M"
    utc = parse_naive_times(hour_utc, fmt).dt.tz_localize("UTC")
    local = parse_naive_times(hour_dk, fmt)
    summer = localize(local, ZONE, ambiguous=np.ones(len(local), dtype=bool))
    winter = localize(local, ZONE, ambiguous=np.zeros(len(local), dtype=bool))
    start = summer.where(~((summer != winter) & (winter == utc)), winter)
    report.add_mask("rejected", "invalid HourDK", local.isna(), line, hour_dk)
    report.add_mask(
        "rejected", "nonexistent HourDK (spring forward)", local.notna() & start.isna(), line,
        hour_dk,
    )  # fmt: skip
    mismatch = start.notna() & (start != utc)
    if bool(mismatch.any()):
        first = mismatch[mismatch].index[:MAX_EXAMPLES]
        report.add(
            "repaired",
            "hour_utc_mismatch",
            line[mismatch].to_numpy(dtype=np.int64),
            (
                "HourUTC "
                + hour_utc[first]
                + " replaced by "
                + start[first].dt.strftime("%Y-%m-%d %H:%M")
                + " from HourDK"
            ).tolist(),
        )
    return start


def _repair_eur(
    cells: pd.Series, dkk: pd.Series, day: pd.Series, line: pd.Series, report: ReportBuilder
) -> pd.Series:
    """EUR prices [EUR/MWh] with the dropped-zero defect and inconsistent values repaired."""
    eur = parse_numbers(cells, decimal=",")
    with np.errstate(all="ignore"):
        ratio = dkk / eur
    plausible = ratio.where((ratio >= RATE_BAND[0]) & (ratio <= RATE_BAND[1]))
    file_rate = plausible.median()
    by_day = plausible.groupby(day)
    rate = by_day.transform("median").where(by_day.transform("count") >= MIN_DAY_ROWS)
    rate = rate.fillna(RATE_FALLBACK if pd.isna(file_rate) else float(file_rate))

    with np.errstate(all="ignore"):
        tolerance = np.maximum(TOLERANCE[0] * dkk.abs(), TOLERANCE[1])
        error = (eur * rate - dkk).abs()
        best = eur.copy()
        best_error = error.copy()
        text = cells.astype(str).str.strip()
        for zeros in (1, 2, 3):  # a loop over candidates, not rows
            candidate = parse_numbers(
                text.str.replace(",", "," + "0" * zeros, n=1, regex=False), ","
            )
            cand_error = (candidate * rate - dkk).abs()
            better = cand_error + 1e-9 < best_error
            best = best.where(~better, candidate)
            best_error = best_error.where(~better, cand_error)
        dropped = (best_error * 10 < error) & (best_error <= tolerance) & (error > 0.05)
        from_dkk = (dkk / rate).round(6)
    report.add_mask(
        "repaired",
        "eur_dropped_zero",
        dropped,
        line,
        "EUR " + cells + " -> " + best.astype(str) + " (DKK " + dkk.astype(str) + ")",
    )
    eur = eur.where(~dropped, best)
    with np.errstate(all="ignore"):
        inconsistent = eur.notna() & dkk.notna() & ((eur * rate - dkk).abs() > tolerance)
    inconsistent &= np.isfinite(dkk)
    report.add_mask(
        "repaired",
        "eur_inconsistent",
        inconsistent,
        line,
        "EUR " + cells + " -> DKK/rate " + from_dkk.astype(str),
    )
    missing = eur.isna() & dkk.notna() & np.isfinite(dkk) & (cells.str.strip() == "")
    report.add_mask("repaired", "eur_missing", missing, line, "DKK/rate " + from_dkk.astype(str))
    return eur.where(~(inconsistent | missing), from_dkk)
