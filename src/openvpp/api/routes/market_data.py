"""Market data (``/api/vpp/market/data``): stored series "as known at", the catalog, file
imports and their history, and the sync job that fetches values from a venue connection."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from openvpp.api.deps import PageDep, PrincipalDep, ReadUow, RuntimeDep, blocking, read
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.common import UTCDatetime
from openvpp.api.schemas.markets import CODE, ImportOut, MarketDataOut, SeriesInfoOut
from openvpp.markets.data_service import MAX_QUERY_DAYS, MAX_QUERY_POINTS
from openvpp.markets.records import SeriesKey
from openvpp.markets.series import RESOLUTIONS_MIN

router = APIRouter(prefix=API_PREFIX, tags=["market data"])

Code = Annotated[str, Query(pattern=CODE)]


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
    series: Code = "price",
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
