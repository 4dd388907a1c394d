"""Pure parsers for public market data files (prices, capacity prices, volumes, forecasts).

Each ``parse_<format>(data: bytes, **options)`` returns a :class:`ParsedMarketData`: a long
DataFrame with the columns :data:`COLUMNS` (one row per market, area, product, series, interval
start and known-at instant) and a :class:`ParseReport` of repaired, rejected and skipped rows.
:func:`read_market_file` reads a path, :func:`detect_format` sniffs the format, and
:data:`FORMATS` lists the formats with their options. Nothing here touches a database or the
network; every failure is a :class:`MarketDataError`.
"""

from openvpp.markets.data._common import (
    CODE_RE,
    COLUMNS,
    KEY,
    MAX_BYTES,
    SERIES_RE,
    MarketDataError,
    ParsedMarketData,
    ParseReport,
    RowIssue,
)
from openvpp.markets.data.energinet import parse_energinet
from openvpp.markets.data.entsoe import EIC_AREAS, parse_entsoe_xml
from openvpp.markets.data.epftoolbox import parse_epftoolbox
from openvpp.markets.data.regelleistung import parse_regelleistung_fcr
from openvpp.markets.data.registry import (
    FORMATS,
    FormatSpec,
    detect_format,
    parse_market_data,
    read_market_file,
)
from openvpp.markets.data.svk import parse_svk_afrr

__all__ = [
    "CODE_RE",
    "COLUMNS",
    "EIC_AREAS",
    "FORMATS",
    "KEY",
    "MAX_BYTES",
    "SERIES_RE",
    "FormatSpec",
    "MarketDataError",
    "ParseReport",
    "ParsedMarketData",
    "RowIssue",
    "detect_format",
    "parse_energinet",
    "parse_entsoe_xml",
    "parse_epftoolbox",
    "parse_market_data",
    "parse_regelleistung_fcr",
    "parse_svk_afrr",
    "read_market_file",
]
