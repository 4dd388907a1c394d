"""The format registry, format sniffing and reading a file from disk."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from openvpp.markets.data import energinet, entsoe, epftoolbox, long, regelleistung, svk
from openvpp.markets.data._common import COLUMNS, MAX_BYTES, MarketDataError, ParsedMarketData


@dataclass(frozen=True)
class FormatSpec:
    """A supported file format: its parser and the keyword options the parser takes."""

    name: str
    parser: Callable[..., ParsedMarketData]
    options: tuple[str, ...]
    description: str


FORMATS: Mapping[str, FormatSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            FormatSpec(
                "epftoolbox",
                epftoolbox.parse_epftoolbox,
                epftoolbox.OPTIONS,
                "epftoolbox benchmark prices with exogenous forecasts (CSV or Parquet)",
            ),
            FormatSpec(
                "energinet",
                energinet.parse_energinet,
                energinet.OPTIONS,
                "Energi Data Service Elspotprices CSV (day-ahead, EUR and DKK)",
            ),
            FormatSpec(
                "regelleistung_fcr",
                regelleistung.parse_regelleistung_fcr,
                regelleistung.OPTIONS,
                "regelleistung.net FCR capacity tender results CSV",
            ),
            FormatSpec(
                "svk_afrr",
                svk.parse_svk_afrr,
                svk.OPTIONS,
                "Svenska kraftnät aFRR capacity prices and volumes CSV",
            ),
            FormatSpec(
                long.FMT,
                long.parse_long,
                long.OPTIONS,
                "OpenVPP long format: one value per row with its known-at time (CSV or Parquet)",
            ),
            FormatSpec(
                "entsoe_xml",
                entsoe.parse_entsoe_xml,
                entsoe.OPTIONS,
                "ENTSO-E Transparency Platform day-ahead prices (A44 XML)",
            ),
        )
    }
)
"""Format name -> :class:`FormatSpec`."""


def _parquet_is_long(data: bytes) -> bool:
    """Whether a Parquet file's columns are those of the long format."""
    try:
        names = pq.read_schema(pa.BufferReader(bytes(data))).names
    except Exception:  # unreadable: let the parser say why
        return False
    return set(names) - {"__index_level_0__"} == set(COLUMNS)


def detect_format(data: bytes, filename: str | None = None) -> str:
    """Name of the format of ``data`` (a key of :data:`FORMATS`), sniffed from its first bytes
    and, for Parquet and XML, the file extension; :class:`MarketDataError` if unknown."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MarketDataError(f"detect_format: expected bytes, got {type(data).__name__}")
    head_bytes = bytes(data[:4096])
    suffix = Path(filename).suffix.lower() if filename else ""
    if head_bytes[:4] == epftoolbox.PARQUET_MAGIC or suffix == ".parquet":
        return long.FMT if _parquet_is_long(data) else "epftoolbox"
    head = head_bytes.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if head.startswith("<") or suffix == ".xml":
        if "Publication_MarketDocument" in head:
            return "entsoe_xml"
        raise MarketDataError(
            f"detect_format: {filename or 'input'}: XML, but no Publication_MarketDocument "
            "(ENTSO-E A44) root"
        )
    first = head.split("\n", 1)[0].strip()
    if re.match(r"HourUTC\s*;\s*HourDK", first, re.IGNORECASE):
        return "energinet"
    if "PRODUCTNAME" in first and "SETTLEMENTCAPACITY" in first:
        return "regelleistung_fcr"
    if re.match(r"Period\s*;", first) and "aFRR" in first:
        return "svk_afrr"
    if {c.strip() for c in first.split(",")} == set(COLUMNS):
        return long.FMT
    rows = head.split("\n")
    if len(rows) > 1 and re.match(r"\s*\"?\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}", rows[1]):
        return "epftoolbox"
    raise MarketDataError(
        f"detect_format: {filename or 'input'}: unknown format, header {first[:80]!r}; "
        f"pass fmt= one of {sorted(FORMATS)}"
    )


def parse_market_data(data: bytes, fmt: str, **options: Any) -> ParsedMarketData:
    """Parse ``data`` with the parser of format ``fmt``, checking option names first."""
    spec = FORMATS.get(fmt)
    if spec is None:
        raise MarketDataError(f"unknown format {fmt!r}, expected one of {sorted(FORMATS)}")
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise MarketDataError(
            f"{fmt}: unknown option(s) {unknown}, expected some of {list(spec.options)}"
        )
    return spec.parser(data, **options)


def read_market_file(
    path: str | os.PathLike[str], fmt: str | None = None, **options: Any
) -> ParsedMarketData:
    """Read and parse a market data file.

    Parameters
    ----------
    path : the file; at most :data:`MAX_BYTES` [bytes].
    fmt : format name (a key of :data:`FORMATS`); default :func:`detect_format`.
    options : the format's options; for ``epftoolbox`` ``area`` defaults to the file stem.
    """
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_BYTES:
            raise MarketDataError(
                f"{file.name}: {size} bytes, more than the limit of {MAX_BYTES} bytes"
            )
        data = file.read_bytes()
    except OSError as exc:
        raise MarketDataError(f"{file}: cannot read ({exc.strerror or exc})") from None
    fmt = fmt or detect_format(data, file.name)
    if fmt == "epftoolbox" and "area" not in options:
        stem = re.sub(r"[^A-Z0-9_-]", "", file.stem.upper())[:32]
        options["area"] = stem if stem and stem[0].isalnum() else "ALL"
    return parse_market_data(data, fmt, **options)
