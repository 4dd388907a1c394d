"""ENTSO-E Transparency Platform day-ahead prices: ``Publication_MarketDocument`` type A44
(namespaces ``urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:0`` and ``...:7:3``).

Structure read: document ``type`` (must be A44) and ``createdDateTime`` (the known-at instant);
per ``TimeSeries`` ``in_Domain.mRID`` (EIC code, mapped to a short name by :data:`EIC_AREAS`,
unknown codes kept), ``currency_Unit.name``, ``price_Measure_Unit.name`` (``MWH`` -> ``/MWh``)
and ``curveType``; per ``Period`` ``timeInterval`` ``start``/``end``, ``resolution``
(PT15M -> product QH, PT30M -> HH, PT60M -> H) and ``Point`` ``position``/``price.amount``.
Curve type A01 lists every position (a missing one is skipped and counted); A03
(variable-sized blocks) omits positions that repeat the previous point's value until the next
given position or the end of the interval.

Documents containing a DOCTYPE or ENTITY declaration are refused (XML external entities,
"billion laughs"); the stdlib ``xml.etree.ElementTree`` then never sees them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
import pandas as pd

from openvpp.markets.data._common import (
    EARLIEST,
    LATEST,
    MarketDataError,
    ParsedMarketData,
    ReportBuilder,
    check_bytes,
    decode_text,
    finish,
    option_code,
    parse_numbers,
    part,
)

FMT = "entsoe_xml"
OPTIONS = ("market",)
NAMESPACE_PREFIX = "urn:iec62325.351:tc57wg16:451-3:publicationdocument:"

EIC_AREAS = {
    "10YDK-1--------W": "DK1",
    "10YDK-2--------M": "DK2",
    "10Y1001A1001A82H": "DE-LU",
    "10Y1001A1001A63L": "DE-AT-LU",
    "10YBE----------2": "BE",
    "10YFR-RTE------C": "FR",
    "10YNL----------L": "NL",
    "10YAT-APG------L": "AT",
    "10YCH-SWISSGRIDZ": "CH",
    "10YPL-AREA-----S": "PL",
    "10YCZ-CEPS-----N": "CZ",
    "10Y1001A1001A44P": "SE1",
    "10Y1001A1001A45N": "SE2",
    "10Y1001A1001A46L": "SE3",
    "10Y1001A1001A47J": "SE4",
    "10YFI-1--------U": "FI",
    "10YNO-1--------2": "NO1",
    "10YES-REE------0": "ES",
    "10YPT-REN------W": "PT",
}
"""Bidding-zone EIC codes -> short area names."""

RESOLUTIONS = {"PT15M": (15, "QH"), "PT30M": (30, "HH"), "PT60M": (60, "H"), "PT1H": (60, "H")}
"""``resolution`` -> (period [min], product code)."""

UNITS = {"MWH": "MWh", "MAW": "MW", "MW": "MW"}
_FORBIDDEN = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_INSTANT = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(:\d{2}(\.\d{1,9})?)?Z$")
_MAX_PERIOD_DAYS = 31
"""Longest ``Period`` accepted [days]; the platform publishes one period per day."""
MAX_DOCUMENT_POINTS = 400_000
"""Most intervals one document may expand to (A03 forward fill included): a small document
must not turn into millions of rows."""


@dataclass
class _Columns:
    area: list[str]
    product: list[str]
    unit: list[str]
    start: list[np.ndarray]
    period: list[int]
    value: list[np.ndarray]
    count: list[int]
    expanded: int = 0


def parse_entsoe_xml(data: bytes, *, market: str = "EU-SDAC") -> ParsedMarketData:
    """Parse an ENTSO-E A44 price document (see module doc).

    Parameters
    ----------
    data : file content [bytes], UTF-8.
    market : market code of every row.

    Returns
    -------
    ParsedMarketData with series ``price`` [<currency>/MWh]; ``known_at`` is the document's
    ``createdDateTime`` [UTC].
    """
    data = check_bytes(data, FMT)
    market = option_code(market, "market")
    text = decode_text(data, FMT)
    forbidden = _FORBIDDEN.search(text)
    if forbidden:
        raise MarketDataError(
            f"{FMT}: offset {forbidden.start()}: {forbidden.group(1).upper()} declarations are "
            "refused (entity expansion / external entities)"
        )
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)  # the encoding was checked above
    try:
        # safe: DOCTYPE and ENTITY declarations were refused above, and expat resolves
        # no external entities without a DOCTYPE
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError as exc:
        row, col = exc.position
        raise MarketDataError(f"{FMT}: line {row}, column {col}: malformed XML ({exc})") from None
    namespace, _, name = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", "")
    if name != "Publication_MarketDocument" or not namespace.startswith(NAMESPACE_PREFIX):
        raise MarketDataError(
            f"{FMT}: root element {root.tag!r}: expected Publication_MarketDocument in "
            f"namespace {NAMESPACE_PREFIX}7:0 or 7:3"
        )
    ns = {"d": namespace}
    doc_type = _text(root, "d:type", ns, "type")
    if doc_type != "A44":
        raise MarketDataError(f"{FMT}: element type: {doc_type!r}, expected 'A44' (prices)")
    created = _instant(_text(root, "d:createdDateTime", ns, "createdDateTime"), "createdDateTime")

    report = ReportBuilder(FMT)
    cols = _Columns([], [], [], [], [], [], [])
    for s, series in enumerate(root.findall("d:TimeSeries", ns), start=1):
        _read_series(series, f"TimeSeries[{s}]", ns, cols, report)
    parts = []
    for i, count in enumerate(cols.count):
        index = pd.RangeIndex(count)
        parts.append(
            part(
                market=market,
                area=cols.area[i],
                product=cols.product[i],
                series="price",
                unit=cols.unit[i],
                start=pd.Series(cols.start[i], index=index).dt.tz_localize("UTC"),
                period_min=cols.period[i],
                value=pd.Series(cols.value[i], index=index, dtype="float64"),
                known_at=pd.Series(created, index=index).astype("datetime64[ns, UTC]"),
                line=pd.Series(0, index=index, dtype="int64"),
            )
        )
    return finish(parts, report)


def _read_series(
    series: ET.Element, where: str, ns: dict[str, str], cols: _Columns, report: ReportBuilder
) -> None:
    eic = _text(series, "d:in_Domain.mRID", ns, f"{where}/in_Domain.mRID")
    area = EIC_AREAS.get(eic, eic)
    option_code_checked(area, f"{where}/in_Domain.mRID")
    currency = _text(series, "d:currency_Unit.name", ns, f"{where}/currency_Unit.name")
    measure = _text(series, "d:price_Measure_Unit.name", ns, f"{where}/price_Measure_Unit.name")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise MarketDataError(f"{FMT}: {where}/currency_Unit.name: {currency!r} is no ISO code")
    if measure.upper() not in UNITS:
        raise MarketDataError(
            f"{FMT}: {where}/price_Measure_Unit.name: {measure!r}, expected one of {list(UNITS)}"
        )
    unit = f"{currency}/{UNITS[measure.upper()]}"
    curve = series.findtext("d:curveType", default="A01", namespaces=ns).strip()
    if curve not in ("A01", "A03"):
        raise MarketDataError(f"{FMT}: {where}/curveType: {curve!r}, expected 'A01' or 'A03'")
    for p, period in enumerate(series.findall("d:Period", ns), start=1):
        here = f"{where}/Period[{p}]"
        start = _instant(_text(period, "d:timeInterval/d:start", ns, f"{here}/start"), here)
        end = _instant(_text(period, "d:timeInterval/d:end", ns, f"{here}/end"), here)
        resolution = _text(period, "d:resolution", ns, f"{here}/resolution")
        if resolution not in RESOLUTIONS:
            raise MarketDataError(
                f"{FMT}: {here}/resolution: {resolution!r}, expected one of {list(RESOLUTIONS)}"
            )
        minutes, product = RESOLUTIONS[resolution]
        span = (end - start) / pd.Timedelta(minutes=minutes)
        if not (span > 0 and span == int(span)):
            raise MarketDataError(
                f"{FMT}: {here}/timeInterval: {start} to {end} is not a positive whole number "
                f"of {resolution} intervals"
            )
        if end - start > pd.Timedelta(days=_MAX_PERIOD_DAYS):
            raise MarketDataError(
                f"{FMT}: {here}/timeInterval: {start} to {end} spans more than "
                f"{_MAX_PERIOD_DAYS} days"
            )
        cols.expanded += int(span)
        if cols.expanded > MAX_DOCUMENT_POINTS:
            raise MarketDataError(
                f"{FMT}: {here}: the document expands to more than {MAX_DOCUMENT_POINTS} "
                "intervals; split it"
            )
        values = _points(period, here, ns, int(span), curve, report)
        given = ~np.isnan(values)
        if not given.any():
            continue
        offsets = np.flatnonzero(given).astype("int64") * minutes
        starts = start.to_datetime64() + offsets.astype("timedelta64[m]")
        cols.area.append(area)
        cols.product.append(product)
        cols.unit.append(unit)
        cols.start.append(starts.astype("datetime64[ns]"))
        cols.period.append(minutes)
        cols.value.append(values[given])
        cols.count.append(int(given.sum()))


def _points(
    period: ET.Element,
    where: str,
    ns: dict[str, str],
    size: int,
    curve: str,
    report: ReportBuilder,
) -> np.ndarray:
    """Prices by position 1..size [float64], NaN where no value applies."""
    points = period.findall("d:Point", ns)
    report.rows_read += len(points)
    positions = pd.Series([p.findtext("d:position", "", ns) for p in points], dtype=object)
    amounts = pd.Series([p.findtext("d:price.amount", "", ns) for p in points], dtype=object)
    pos = parse_numbers(positions)
    amount = parse_numbers(amounts)
    valid_pos = pos.notna() & (pos == pos.round()) & (pos >= 1) & (pos <= size)
    _reject(report, "invalid or out-of-range position", where, ~valid_pos, positions)
    valid_amount = np.isfinite(amount)
    _reject(report, "invalid price.amount", where, valid_pos & ~valid_amount, amounts)
    ok = valid_pos & valid_amount
    index = pos[ok].astype("int64") - 1
    duplicate = index.duplicated(keep="first")
    _reject(report, "duplicate position", where, duplicate, positions[ok])
    values = np.full(size, np.nan)
    values[index[~duplicate].to_numpy()] = amount[ok][~duplicate].to_numpy()
    if curve == "A03":
        filled = pd.Series(values).ffill().to_numpy()
        return np.asarray(filled, dtype="float64")
    missing = int(np.isnan(values).sum())
    if missing:
        report.add("skipped", "missing A01 position", [None] * missing, where)
    return values


def _reject(
    report: ReportBuilder, reason: str, where: str, mask: pd.Series, cells: pd.Series
) -> None:
    if bool(mask.any()):
        details = [f"{where}: {v!r}" for v in cells[mask].head(3)]
        report.add("rejected", reason, [None] * int(mask.sum()), details + [""] * int(mask.sum()))


def _text(element: ET.Element, path: str, ns: dict[str, str], where: str) -> str:
    found = element.find(path, ns)
    if found is None or not (found.text or "").strip():
        raise MarketDataError(f"{FMT}: element {where} is missing or empty")
    return (found.text or "").strip()


def _instant(value: str, where: str) -> pd.Timestamp:
    """``2024-01-01T23:00Z`` -> [UTC], refusing other forms and times outside 1900-2199."""
    match = _INSTANT.match(value)
    try:
        stamp = pd.Timestamp(match.group(0)) if match else None
    except ValueError:
        stamp = None
    if stamp is None or not EARLIEST <= stamp < LATEST:
        raise MarketDataError(
            f"{FMT}: element {where}: {value!r} is not a UTC instant like '2024-01-01T23:00Z'"
        )
    return stamp.tz_convert("UTC")


def option_code_checked(area: str, where: str) -> None:
    try:
        option_code(area, where)
    except MarketDataError:
        raise MarketDataError(f"{FMT}: element {where}: {area!r} is no area code") from None
