"""Shared schema pieces."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from openvpp.core.clock import ensure_utc


class In(BaseModel):
    """Base of every request body: unknown or privileged fields are refused (422)."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_only(value: Any) -> Any:
    """Refuse what lax parsing would take for a timestamp: numbers, dates without a time."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATETIME.match(value)):
        return value
    raise ValueError("must be an ISO-8601 timestamp string with a UTC offset")


UTCDatetime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(ensure_utc)]
"""A timestamp that must carry an offset; stored and returned in UTC."""

_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_day(value: Any) -> Any:
    """Refuse what lax parsing would take for a day: numbers (timestamps), other layouts."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DAY.match(value):
        return value
    raise ValueError("a day as YYYY-MM-DD")


IsoDay = Annotated[date, BeforeValidator(_iso_day)]
"""A calendar day written YYYY-MM-DD (a number is not taken for a timestamp)."""


class FieldError(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str | None = None
    field: str | None = None
    fields: list[FieldError] | None = None
    details: list[dict[str, Any]] | None = None  # e.g. each conflict: resources and intervals


class ErrorOut(BaseModel):
    """The one error shape of every non-2xx response."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (400, "Malformed request"),
        (401, "Not authenticated: missing, expired, tampered or revoked credentials"),
        (403, "The caller's roles do not allow this"),
        (404, "Not found in the caller's organization"),
        (405, "Method not allowed"),
        (409, "Conflicts with the current state"),
        (413, "Request body too large"),
        (422, "Invalid input; `field` names it"),
        (429, "Too many attempts; see Retry-After"),
        (500, "Internal error (no details; quote the request id)"),
        (503, "Database unavailable; see Retry-After"),
    )
}


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON Schema with its ``$defs`` inlined, for a hand-written OpenAPI media type
    (there a ``#/$defs/...`` reference would resolve against the OpenAPI document)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(
                    {
                        **defs[ref.removeprefix("#/$defs/")],
                        **{k: v for k, v in node.items() if k != "$ref"},
                    }
                )
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
