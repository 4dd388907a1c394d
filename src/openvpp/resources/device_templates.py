"""Device templates: an organization's named, versioned templates on top of a built-in model.

A device template (``megapack-2xl`` v1) pins a built-in model version (battery v1), fills in
defaults and may narrow the built-in ranges (``limits``: ``minimum``/``maximum`` of a numeric
parameter, an ``enum`` of a text parameter). Like the built-in versions it never changes once
created: a changed device is a new version. A library document (JSON or YAML) carries the
device templates of an organization, plus the built-in templates for reference.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import yaml

from openvpp.core.errors import ValidationFailed
from openvpp.resources.parameters import describe, properties, validated_parameters
from openvpp.resources.templates import ResourceType, json_schema, parameters_model

FORMAT_VERSION = 1
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
"""Lower case only: MariaDB compares text case-insensitively, the other databases do not."""
MAX_VERSION = 1_000_000
MAX_DESCRIPTION = 500
MAX_ENUM = 100
SPEC_FIELDS = ("key", "version", "resource_type", "model_version", "description", "defaults")
DOCUMENT_KEYS = frozenset({"format_version", "builtin_templates", "templates"})
NUMERIC = ("number", "integer")


class LibraryFormat(StrEnum):
    JSON = "json"
    YAML = "yaml"


MEDIA_TYPES = {LibraryFormat.JSON: "application/json", LibraryFormat.YAML: "application/yaml"}


@dataclass(frozen=True)
class DeviceTemplateSpec:
    """What defines a device template: everything but its identity and creation time."""

    key: str
    version: int
    resource_type: ResourceType
    model_version: int
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.key} v{self.version}"

    def document(self) -> dict[str, Any]:
        """The entry of a library document (and of the audit trail)."""
        return {
            "key": self.key,
            "version": self.version,
            "resource_type": self.resource_type.value,
            "model_version": self.model_version,
            "description": self.description,
            "defaults": self.defaults,
            "limits": self.limits,
        }


@dataclass(frozen=True)
class DeviceTemplate:
    id: str
    organization_id: str
    key: str
    version: int
    resource_type: ResourceType
    model_version: int
    description: str
    defaults: dict[str, Any]
    limits: dict[str, dict[str, Any]]
    created_at: datetime

    @property
    def label(self) -> str:
        return f"{self.key} v{self.version}"

    @property
    def spec(self) -> DeviceTemplateSpec:
        return DeviceTemplateSpec(
            self.key,
            self.version,
            self.resource_type,
            self.model_version,
            self.description,
            self.defaults,
            self.limits,
        )

    def audit_view(self) -> dict[str, Any]:
        return self.spec.document()


TemplateLike = DeviceTemplate | DeviceTemplateSpec


# -- validation ----------------------------------------------------------------------------


def _fail(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field_name}: {message}", field=field_name)


def _is_number(value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _builtin_violation(value: float, prop: dict[str, Any]) -> str | None:
    """Why ``value`` lies outside the built-in range of ``prop``, or ``None``."""
    checks: tuple[tuple[str, Callable[[Any, Any], bool], str], ...] = (
        ("minimum", operator.ge, "at least"),
        ("exclusiveMinimum", operator.gt, "greater than"),
        ("maximum", operator.le, "at most"),
        ("exclusiveMaximum", operator.lt, "less than"),
    )
    for key, ok, words in checks:
        if key in prop and not ok(value, prop[key]):
            return f"must be {words} {prop[key]}"
    return None


def effective_property(prop: dict[str, Any], limit: Mapping[str, Any]) -> dict[str, Any]:
    """A property's schema with a device template's limit applied (the range it allows)."""
    narrowed = dict(prop)
    if "minimum" in limit:
        narrowed.pop("exclusiveMinimum", None)
        narrowed["minimum"] = limit["minimum"]
    if "maximum" in limit:
        narrowed.pop("exclusiveMaximum", None)
        narrowed["maximum"] = limit["maximum"]
    if "enum" in limit:
        narrowed["enum"] = list(limit["enum"])
    return narrowed


def _checked_limit(
    resource_type: ResourceType, model_version: int, name: str, raw: Any, where: str
) -> dict[str, Any]:
    """One parameter's limit, checked: it only narrows the built-in range."""
    model = parameters_model(resource_type, model_version)
    if not isinstance(raw, dict):
        raise _fail(where, "must be an object with minimum/maximum (numbers) or enum (text)")
    prop = properties(model)[name]
    kind = prop.get("type")
    if kind in NUMERIC:
        if not raw or set(raw) - {"minimum", "maximum"}:
            raise _fail(where, "a numeric parameter's limit has minimum and/or maximum only")
        for bound in ("minimum", "maximum"):
            if bound not in raw:
                continue
            value = raw[bound]
            if not _is_number(value) or (kind == "integer" and value != int(value)):
                raise _fail(f"{where}.{bound}", f"must be a finite {kind}")
            why = _builtin_violation(value, prop)
            if why is not None:
                raise _fail(
                    f"{where}.{bound}",
                    describe(f"{why}: limits may only narrow the built-in range", prop),
                )
        if "minimum" in raw and "maximum" in raw and raw["minimum"] > raw["maximum"]:
            raise _fail(f"{where}.minimum", f"must not exceed maximum {raw['maximum']}")
        return dict(raw)
    if kind == "string":
        if set(raw) != {"enum"}:
            raise _fail(where, "a text parameter's limit has enum only")
        values = raw["enum"]
        if (
            not isinstance(values, list)
            or not values
            or len(values) > MAX_ENUM
            or not all(isinstance(v, str) for v in values)
        ):
            raise _fail(f"{where}.enum", f"must be a list of 1 to {MAX_ENUM} strings")
        if len(set(values)) != len(values):
            raise _fail(f"{where}.enum", "must not repeat a value")
        for i, value in enumerate(values):
            try:
                validated_parameters(resource_type, model_version, {name: value}, prefix="_")
            except ValidationFailed as exc:
                if exc.field is not None and exc.field.startswith(f"_.{name}"):
                    raise _fail(f"{where}.enum[{i}]", exc.message.split(": ", 1)[1]) from None
        return {"enum": list(values)}
    raise _fail(where, "limits apply to numeric and text parameters only")


def check_limits(
    parameters: Mapping[str, Any],
    template: TemplateLike,
    *,
    prefix: str = "parameters",
) -> None:
    """``ValidationFailed`` naming the first parameter outside the device template's limits,
    with its unit and the range the template allows."""
    model = parameters_model(template.resource_type, template.model_version)
    for name, limit in template.limits.items():
        if name not in parameters:
            continue
        value = parameters[name]
        prop = properties(model).get(name, {})
        allowed = effective_property(prop, limit)
        detail = None
        if "minimum" in limit and value < limit["minimum"]:
            detail = f"Input should be greater than or equal to {limit['minimum']}"
        elif "maximum" in limit and value > limit["maximum"]:
            detail = f"Input should be less than or equal to {limit['maximum']}"
        elif "enum" in limit and value not in limit["enum"]:
            detail = "Input should be one of " + ", ".join(repr(v) for v in limit["enum"])
        if detail is not None:
            where = f"{prefix}.{name}"
            source = f"device template {template.label}"
            raise _fail(where, describe(detail, allowed, source))


def validate_spec(spec: DeviceTemplateSpec) -> DeviceTemplateSpec:
    """The spec, checked and normalized (defaults as the model types them).

    Errors name the field relative to the template: ``key``, ``model_version``,
    ``defaults.energy_mwh``, ``limits.energy_mwh.maximum``."""
    if not isinstance(spec.key, str) or not KEY_PATTERN.fullmatch(spec.key):
        raise _fail("key", "must be 1 to 80 of a-z, 0-9, '.', '_', '-', starting with a-z or 0-9")
    if not _is_int(spec.version) or not 1 <= spec.version <= MAX_VERSION:
        raise _fail("version", f"must be an integer from 1 to {MAX_VERSION}")
    if not isinstance(spec.resource_type, ResourceType):
        raise _fail("resource_type", f"must be one of {[t.value for t in ResourceType]}")
    if not _is_int(spec.model_version):
        raise _fail("model_version", "must be an integer")
    try:
        model = parameters_model(spec.resource_type, spec.model_version)
    except KeyError as exc:
        raise _fail("model_version", str(exc.args[0])) from None
    if not isinstance(spec.description, str) or len(spec.description) > MAX_DESCRIPTION:
        raise _fail("description", f"must be text of at most {MAX_DESCRIPTION} characters")
    if not isinstance(spec.defaults, dict):
        raise _fail("defaults", "must be an object of parameter values")
    if not isinstance(spec.limits, dict):
        raise _fail("limits", "must be an object: parameter -> limit")
    full = validated_parameters(
        spec.resource_type, spec.model_version, spec.defaults, prefix="defaults"
    )
    limits: dict[str, dict[str, Any]] = {}
    for name, raw in spec.limits.items():
        if name not in model.model_fields:
            raise _fail(
                f"limits.{name}",
                f"{spec.resource_type.value} v{spec.model_version} has no such parameter",
            )
        limits[name] = _checked_limit(
            spec.resource_type, spec.model_version, name, raw, f"limits.{name}"
        )
    checked = DeviceTemplateSpec(
        key=spec.key,
        version=spec.version,
        resource_type=spec.resource_type,
        model_version=spec.model_version,
        description=spec.description,
        defaults={name: full[name] for name in spec.defaults},
        limits=limits,
    )
    check_limits(full, checked, prefix="defaults")  # also the built-in defaults it keeps
    return checked


def apply(template: TemplateLike, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A resource's parameters from a device template: its defaults, then ``overrides``,
    checked against the built-in model and the template's limits."""
    merged = {**template.defaults, **overrides}
    full = validated_parameters(template.resource_type, template.model_version, merged)
    check_limits(full, template)
    return full


@dataclass(frozen=True)
class Upgrade:
    parameters: dict[str, Any]
    removed: list[str]
    """Parameters the target version no longer has (dropped)."""
    added: list[str]
    """Parameters new in the target version (filled from its defaults)."""


def upgraded_parameters(
    current: Mapping[str, Any],
    resource_type: ResourceType,
    model_version: int,
    template: TemplateLike | None = None,
) -> Upgrade:
    """A resource's parameters moved to another model version (or device template): the
    current values are kept, new fields take the target's defaults, fields the target no
    longer has are dropped. Raises ``ValidationFailed`` (naming field, unit, range) when the
    current values do not fit the target."""
    try:
        model = parameters_model(resource_type, model_version)
    except KeyError as exc:
        raise ValidationFailed(str(exc.args[0]), field="template_version") from None
    fields = model.model_fields
    kept = {k: v for k, v in current.items() if k in fields}
    removed = sorted(k for k in current if k not in fields)
    added = sorted(k for k in fields if k not in current)
    defaults = template.defaults if template is not None else {}
    merged = {**{k: v for k, v in defaults.items() if k not in current}, **kept}
    full = validated_parameters(resource_type, model_version, merged)
    if template is not None:
        check_limits(full, template)
    return Upgrade(full, removed, added)


# -- library documents ---------------------------------------------------------------------


def export_library(
    builtins: Iterable[tuple[ResourceType, int]],
    device_templates: Sequence[TemplateLike],
    fmt: LibraryFormat | str = LibraryFormat.JSON,
) -> str:
    """The library document: format version, built-in templates (for reference) and the
    device templates, as JSON or YAML."""
    document = {
        "format_version": FORMAT_VERSION,
        "builtin_templates": [
            {
                "resource_type": kind.value,
                "version": version,
                "parameters_schema": json_schema(kind, version),
            }
            for kind, version in sorted(builtins)
        ],
        "templates": [
            t.spec.document() if isinstance(t, DeviceTemplate) else t.document()
            for t in sorted(device_templates, key=lambda t: (t.key, t.version))
        ],
    }
    if LibraryFormat(fmt) is LibraryFormat.YAML:
        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def load_document(text: str, fmt: LibraryFormat | str) -> Any:
    """The parsed document; ``ValidationFailed`` (field ``body``) when it does not parse."""
    try:
        if LibraryFormat(fmt) is LibraryFormat.YAML:
            return yaml.safe_load(text)
        return json.loads(text, parse_constant=_no_constant)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValidationFailed(f"body: not valid YAML{where}", field="body") from None
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"body: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            field="body",
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ValidationFailed(f"body: cannot be read: {exc}"[:200], field="body") from None


def _spec_of(raw: Any, where: str) -> DeviceTemplateSpec:
    if not isinstance(raw, dict):
        raise _fail(where, "must be an object")
    for name in raw:
        if name not in (*SPEC_FIELDS, "limits"):
            raise _fail(f"{where}.{name}" if isinstance(name, str) else where, "unknown field")
    for name in ("key", "version", "resource_type", "model_version"):
        if name not in raw:
            raise _fail(f"{where}.{name}", "field required")
    kind = raw["resource_type"]
    if not isinstance(kind, str) or kind not in {t.value for t in ResourceType}:
        raise _fail(f"{where}.resource_type", f"must be one of {[t.value for t in ResourceType]}")
    for name in ("defaults", "limits"):
        value = raw.get(name, {})
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _fail(f"{where}.{name}", "must be an object keyed by parameter name")
    spec = DeviceTemplateSpec(
        key=raw["key"],
        version=raw["version"],
        resource_type=ResourceType(kind),
        model_version=raw["model_version"],
        description=raw.get("description", ""),
        defaults=raw.get("defaults", {}),
        limits=raw.get("limits", {}),
    )
    try:
        return validate_spec(spec)
    except ValidationFailed as exc:
        name = exc.field or ""
        raise ValidationFailed(f"{where}.{exc.message}", field=f"{where}.{name}") from None


def _check_builtins(entries: Any) -> None:
    """Built-ins are ignored on import (they are code), but must be well-formed."""
    if not isinstance(entries, list):
        raise _fail("builtin_templates", "must be a list")
    kinds = {t.value for t in ResourceType}
    for i, entry in enumerate(entries):
        where = f"builtin_templates[{i}]"
        if not isinstance(entry, dict):
            raise _fail(where, "must be an object")
        kind = entry.get("resource_type")
        if not isinstance(kind, str) or kind not in kinds:
            raise _fail(f"{where}.resource_type", f"must be one of {sorted(kinds)}")
        if not _is_int(entry.get("version")):
            raise _fail(f"{where}.version", "must be an integer")
        if not isinstance(entry.get("parameters_schema"), dict):
            raise _fail(f"{where}.parameters_schema", "must be an object")


def parse_library(text: str, fmt: LibraryFormat | str) -> list[DeviceTemplateSpec]:
    """The device templates of a library document (see ``parse_library_entries``)."""
    return [spec for _, spec in parse_library_entries(text, fmt)]


def parse_library_entries(
    text: str, fmt: LibraryFormat | str
) -> list[tuple[int, DeviceTemplateSpec]]:
    """The device templates of a library document with their positions in its ``templates``
    list, every one checked (built-ins are ignored: they are code). All or nothing: the first
    problem raises ``ValidationFailed`` naming ``templates[i].field``. A (key, version) listed
    twice must be identical; it is returned once, at its first position."""
    document = load_document(text, fmt)
    if not isinstance(document, dict):
        raise _fail("body", "must be an object with format_version and templates")
    unknown = sorted(str(k) for k in document if k not in DOCUMENT_KEYS)
    if unknown:
        raise _fail(unknown[0], "unknown field")
    version = document.get("format_version")
    if not _is_int(version) or version != FORMAT_VERSION:
        raise _fail("format_version", f"must be {FORMAT_VERSION}")
    _check_builtins(document.get("builtin_templates", []))
    entries = document.get("templates")
    if not isinstance(entries, list):
        raise _fail("templates", "must be a list of device templates")
    specs: list[tuple[int, DeviceTemplateSpec]] = []
    seen: dict[tuple[str, int], DeviceTemplateSpec] = {}
    for i, raw in enumerate(entries):
        spec = _spec_of(raw, f"templates[{i}]")
        earlier = seen.get((spec.key, spec.version))
        if earlier is None:
            seen[(spec.key, spec.version)] = spec
            specs.append((i, spec))
        elif earlier != spec:
            raise _fail(f"templates[{i}]", f"{spec.label} is listed twice with different content")
    return specs
