"""Market data (``/api/vpp/market/data``): stored series "as known at", the catalog, file
imports and their history, and the sync job that fetches values from a venue connection."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from openvpp.api.deps import (
    PageDep,
    PrincipalDep,
    ReadUow,
    RuntimeDep,
    WriteUow,
    blocking,
    read,
)
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.common import UTCDatetime
from openvpp.api.schemas.markets import (
    CODE,
    SERIES,
    ConditionOut,
    ImportOut,
    MarketDataOut,
    SeriesInfoOut,
)
from openvpp.core.errors import ValidationFailed
from openvpp.forecasting.conditions_service import MAX_DAYS
from openvpp.forecasting.registry.catalog import SeriesRef
from openvpp.markets.data import FORMATS
from openvpp.markets.data_service import MAX_QUERY_DAYS, MAX_QUERY_POINTS, typed_options
from openvpp.markets.records import SeriesKey
from openvpp.markets.series import RESOLUTIONS_MIN

router = APIRouter(prefix=API_PREFIX, tags=["market data"])

Code = Annotated[str, Query(pattern=CODE)]
Option = Annotated[str | None, Query(max_length=200)]

IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in ("text/csv", "application/xml", "application/octet-stream")
        },
    }
}


@router.post(
    "/market/data/import",
    status_code=201,
    summary="Import a market data file (CSV, Parquet or ENTSO-E XML) as the request body",
    description="The body is the file itself. `format` is one of "
    f"{sorted(FORMATS)} (sniffed from the content when left out); the other query "
    "parameters are the format's options (see docs/markets.md), e.g. `market` and `area` for "
    "epftoolbox files. Values are stored with the time they became known; a value stored "
    "already counts as a duplicate, a different value for the same key and known-at time as "
    "a conflict (never overwritten). A file that cannot be parsed stores nothing (422 naming "
    "the line or option). Bodies up to `OPENVPP_MAX_UPLOAD_BYTES`.",
    openapi_extra=IMPORT_BODY,
)
async def import_market_data(
    request: Request,
    rt: RuntimeDep,
    uow: WriteUow,
    principal: PrincipalDep,
    format: Annotated[str | None, Query(max_length=32)] = None,
    filename: Annotated[str | None, Query(max_length=255)] = None,
    market: Option = None,
    area: Option = None,
    product: Option = None,
    time_zone: Option = None,
    publication_time: Option = None,
    publication_time_zone: Option = None,
    unit: Option = None,
    exog_series: Option = None,
    exog_unit: Option = None,
    period_min: Option = None,
    areas: Option = None,
    known_at: Option = None,
) -> ImportOut:
    if format is not None and format not in FORMATS:
        raise ValidationFailed(
            f"unknown format {format!r}; known: {sorted(FORMATS)}", field="format"
        )
    options = typed_options(
        format,
        {
            "market": market,
            "area": area,
            "product": product,
            "time_zone": time_zone,
            "publication_time": publication_time,
            "publication_time_zone": publication_time_zone,
            "unit": unit,
            "exog_series": exog_series,
            "exog_unit": exog_unit,
            "period_min": period_min,
            "areas": areas,
            "known_at": known_at,
        },
    )
    data = await request.body()
    if not data:
        raise ValidationFailed("the body is empty; send the file as the body", field="body")
    outcome = await blocking(
        rt.market_data.import_file,
        uow,
        principal.organization_id,
        data,
        fmt=format,
        options=options,
        source=filename or "upload",
        actor=principal.user_id,
    )
    return ImportOut.of_outcome(outcome)


@router.get(
    "/market/data",
    summary="A market data series over a range, as known at an instant, optionally resampled",
    description="Values of one series (`market`, `area`, `product`, `series`) for intervals "
    "starting in [start, end). Each value is the newest vintage known at `as_of` (default "
    "now): a backtest asking at T sees exactly what was published by T. With `resolution` "
    f"(one of {list(RESOLUTIONS_MIN)} minutes) values are time-weighted means per bucket "
    "(`coverage` tells how much of the bucket had data); buckets up to 240 min are aligned to "
    "UTC, 1440 is the calendar day in the market's time zone (23 or 25 hours on DST days). "
    f"At most {MAX_QUERY_DAYS} days and {MAX_QUERY_POINTS} points per query.",
)
async def market_data(
    market: Code,
    area: Code,
    product: Code,
    start: UTCDatetime,
    end: UTCDatetime,
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    series: Annotated[str, Query(pattern=SERIES)] = "price",
    resolution: Annotated[int | None, Query(description="bucket length [min]")] = None,
    as_of: UTCDatetime | None = None,
) -> MarketDataOut:
    data = await blocking(
        rt.market_data.series,
        uow,
        principal.organization_id,
        SeriesKey(market, area, product, series),
        start,
        end,
        resolution_min=resolution,
        as_of=as_of,
    )
    return MarketDataOut.of(data)


@router.get("/market/data/series", summary="Stored series with their ranges and counts")
async def market_series(
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    market: Annotated[str | None, Query(pattern=CODE)] = None,
) -> list[SeriesInfoOut]:
    found = await read(rt, rt.market_data.catalog, uow, principal.organization_id, market)
    return [SeriesInfoOut.of(s) for s in found]


@router.get("/market/data/imports", summary="Imports of market data, newest first")
async def market_imports(
    rt: RuntimeDep, uow: ReadUow, principal: PrincipalDep, page: PageDep
) -> list[ImportOut]:
    found = await read(
        rt, rt.market_data.imports, uow, principal.organization_id, page.limit, page.offset
    )
    return [ImportOut.of(r) for r in found]


@router.get(
    "/market/conditions",
    summary="Market conditions per delivery day: spread, volatility regime, scarcity",
    description="From the hourly values of a price series as known at `as_of` (default now), "
    "per local day of the market in [start, end): the daily spread and mean, the volatility "
    "of hour-to-hour changes over the trailing 7 days and its regime (low / normal / high "
    "against the 20th/80th percentiles of the previous 90 days), scarcity (share of hours "
    "above the 95th percentile of the previous 90 days) and the share of negative prices. "
    "Each day reads only its own and earlier prices. Days without all hourly values are "
    f"left out. At most {MAX_DAYS} days.",
)
async def market_conditions(
    market: Code,
    area: Code,
    product: Code,
    start: date,
    end: date,
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    series: Annotated[str, Query(pattern=SERIES)] = "price",
    as_of: UTCDatetime | None = None,
) -> list[ConditionOut]:
    ref = SeriesRef(market=market, area=area, product=product, series=series)
    table = await blocking(
        rt.conditions.conditions, uow, principal.organization_id, ref, start, end, as_of
    )
    return [ConditionOut.model_validate(row) for row in table.to_dict("records")]
