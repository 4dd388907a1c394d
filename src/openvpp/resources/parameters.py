"""Parameters checked against a built-in model version. Every error names the field, its unit
and the allowed range, so that a client can fix its request."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from openvpp.core.errors import ValidationFailed
from openvpp.resources.templates import Parameters, ResourceType, parameters_model, schema_of

RANGE_KEYS = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")


def properties(model: type[Parameters]) -> dict[str, dict[str, Any]]:
    """The JSON Schema properties of a model (computed once per model; do not mutate)."""
    props: dict[str, dict[str, Any]] = schema_of(model).get("properties", {})
    return props


def allowed_text(prop: dict[str, Any]) -> str:
    """``minimum 0, maximum 1`` (numbers) or ``enum ['a', 'b']`` (text) of a property."""
    parts = [f"{k} {prop[k]}" for k in RANGE_KEYS if k in prop]
    if "enum" in prop:
        parts.append(f"enum {prop['enum']}")
    return ", ".join(parts)


def describe(detail: str, prop: dict[str, Any], source: str = "") -> str:
    """``detail [unit] (allowed: range)``; ``source`` names who narrowed the range."""
    if "unit" in prop:
        detail += f" [{prop['unit']}]"
    allowed = allowed_text(prop)
    if allowed:
        detail += f" (allowed{' by ' + source if source else ''}: {allowed})"
    return detail


def validated_parameters(
    resource_type: ResourceType, version: int, raw: dict[str, Any], *, prefix: str = "parameters"
) -> dict[str, Any]:
    """Parameters checked against the template version; the error names field, unit, range.

    ``prefix`` is the name of the checked object in error fields (``defaults`` of a device
    template, for instance)."""
    try:
        model = parameters_model(resource_type, version)
    except KeyError as exc:
        raise ValidationFailed(str(exc.args[0]), field="template_version") from None
    try:
        return model.model_validate(raw).model_dump()
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"]]
        field = ".".join([prefix, *loc])
        prop = properties(model).get(loc[0], {}) if loc else {}
        raise ValidationFailed(f"{field}: {describe(first['msg'], prop)}", field=field) from None
