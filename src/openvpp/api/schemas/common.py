"""Shared schema pieces."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from openvpp.core.clock import ensure_utc


class In(BaseModel):
    """Base of every request body: unknown or privileged fields are refused (422)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _utc(value: datetime) -> datetime:
    return ensure_utc(value)


UTCDatetime = Annotated[datetime, AfterValidator(_utc)]
"""A timestamp that must carry an offset; stored and returned in UTC."""


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str | None = None
    field: str | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail
