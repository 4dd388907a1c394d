"""Telemetry: batch ingestion as JSON or CSV (``POST /api/vpp/telemetry``) and raw or
resampled series of a resource (``GET /api/vpp/resources/{resource_id}/telemetry``)."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from openvpp.api.deps import PageDep, PrincipalDep, ReadUow, RuntimeDep, WriteUow, blocking, read
from openvpp.api.policy import API_PREFIX
from openvpp.api.schemas.common import ErrorOut, UTCDatetime, inline_schema
from openvpp.api.schemas.telemetry import (
    IngestOut,
    TelemetryBatchIn,
    TelemetryBucketOut,
    TelemetryOut,
)
from openvpp.core.errors import ValidationFailed
from openvpp.resources.telemetry import (
    CSV_COLUMNS,
    MAX_BATCH_POINTS,
    RESAMPLE_MAX_ROWS,
    Resolution,
    TelemetryPoint,
    parse_csv,
)

router = APIRouter(prefix=API_PREFIX, tags=["telemetry"])

CSV_EXAMPLE = (
    "resource_id,ts,power_mw,soc,fault\n"
    "0b9f4c2e-7d1a-4f0e-9c3b-2a5d8e6f1a7c,2026-03-29T01:00:00+01:00,1.5,0.52,false\n"
    "0b9f4c2e-7d1a-4f0e-9c3b-2a5d8e6f1a7c,2026-03-29T00:15:00Z,-0.8,,false\n"
)


INGEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": inline_schema(TelemetryBatchIn)},
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "header `resource_id,ts,power_mw[,soc][,fault]` (any order), "
                    f"then one point per line, at most {MAX_BATCH_POINTS} lines",
                },
                "example": CSV_EXAMPLE,
            },
        },
    }
}


def _points(media: str, body: bytes) -> list[TelemetryPoint]:
    """The points of a JSON or CSV body; a malformed body raises (422 naming the place)."""
    if media == "text/csv":
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed("the CSV body is not UTF-8 text", field="body") from None
        points = parse_csv(text)
        if not points:
            raise ValidationFailed("the CSV body holds no points", field="body")
        return points
    try:
        batch = TelemetryBatchIn.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
    return [TelemetryPoint(p.resource_id, p.ts, p.power_mw, p.soc, p.fault) for p in batch.points]


@router.post(
    "/telemetry",
    summary="Ingest a batch of telemetry points (JSON or CSV)",
    description='Send `application/json` (`{"points": [...]}`) or `text/csv` with the header '
    f"`{','.join(CSV_COLUMNS)}` (`soc` and `fault` optional, any column order; `ts` ISO 8601 "
    "with an offset; an empty `soc` is null; `fault` is true/false/1/0). A malformed CSV "
    "answers 422 naming the line and column, and nothing is stored. Well-formed points are "
    "screened one by one: the answer counts accepted points, duplicates and rejections per "
    "reason. Each resource's newest point updates its `last_seen_at` and status. At most "
    f"{MAX_BATCH_POINTS} points and `OPENVPP_MAX_BODY_BYTES` per request.",
    openapi_extra=INGEST_BODY,
    responses={415: {"model": ErrorOut, "description": "Neither JSON nor CSV"}},
)
async def ingest_telemetry(
    request: Request, rt: RuntimeDep, uow: WriteUow, principal: PrincipalDep
) -> IngestOut:
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media not in ("", "application/json", "text/csv") and not media.endswith("+json"):
        raise HTTPException(415, "send the batch as application/json or text/csv")
    body = await request.body()

    def run() -> IngestOut:
        result = rt.telemetry.ingest(uow, principal, _points(media, body))
        return IngestOut(
            accepted=result.accepted,
            duplicates=result.duplicates,
            rejected=dict(result.rejected),
            examples=result.examples,
        )

    return await blocking(run)  # parsing a large batch would stall the event loop


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationFailed(f"unknown time zone {name[:64]!r}", field="tz") from None


@router.get(
    "/resources/{resource_id}/telemetry",
    summary="Telemetry of a resource: raw points, or buckets with `resolution`",
    description="Without `resolution`: raw points in [start, end), oldest first, paged with "
    "`limit`/`offset`. With `resolution` (`start` and `end` required): one entry per bucket "
    "holding readings (empty buckets are left out) with mean, min and max power, the last "
    "soc, the count and whether any reading flagged a fault; `start`/`end` of each bucket in "
    "UTC. `15min` and `1h` buckets are aligned to the UTC epoch; `1d` buckets are the "
    "calendar days of `tz` (default UTC), so a DST change gives a 23 or 25 hour day. A "
    f"resampled query reads at most {RESAMPLE_MAX_ROWS} readings and spans at most 10,000 "
    "buckets (422 otherwise); `limit`/`offset` do not apply to it.",
)
async def resource_telemetry(
    resource_id: str,
    rt: RuntimeDep,
    uow: ReadUow,
    principal: PrincipalDep,
    page: PageDep,
    start: UTCDatetime | None = None,
    end: UTCDatetime | None = None,
    resolution: Resolution | None = None,
    tz: Annotated[
        str, Query(min_length=1, max_length=64, description="IANA time zone of `1d` buckets")
    ] = "UTC",
) -> list[TelemetryOut] | list[TelemetryBucketOut]:
    zone = _zone(tz)
    if resolution is None:
        points = await read(
            rt, rt.telemetry.query, uow, principal, resource_id, start, end, page.limit, page.offset
        )
        return [TelemetryOut.model_validate(p) for p in points]
    if start is None or end is None:
        missing = "start" if start is None else "end"
        raise ValidationFailed(f"{missing} is required with resolution", field=missing)
    buckets = await blocking(
        rt.telemetry.resampled, uow, principal, resource_id, start, end, resolution, zone
    )
    return [TelemetryBucketOut.model_validate(b) for b in buckets]
