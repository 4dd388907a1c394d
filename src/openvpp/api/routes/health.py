"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from openvpp.api.deps import RuntimeDep, blocking
from openvpp.health import check_health

router = APIRouter(tags=["platform"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/readyz",
    summary="Readiness: database reachable and migrations current",
    responses={503: {"description": "not ready, with the reason per check"}},
)
async def readyz(rt: RuntimeDep) -> JSONResponse:
    report = await blocking(check_health, rt)
    return JSONResponse(
        {"status": "ready" if report.ok else "not ready", "checks": report.checks},
        status_code=200 if report.ok else 503,
        headers=None if report.ok else {"Retry-After": "5"},
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    own = generate_latest(request.app.state.metrics)  # this application's runtime
    return Response(generate_latest() + own, media_type=CONTENT_TYPE_LATEST)
