"""Telemetry ingestion rules (pure): which points are accepted, which are rejected and why."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from openvpp.resources.model import Resource
from openvpp.resources.models.wind import power_curve
from openvpp.resources.templates import ResourceType

PLAUSIBLE_FACTOR = 1.2  # |power| beyond this multiple of the capacity is a bad reading


@dataclass(frozen=True)
class TelemetryPoint:
    resource_id: str
    ts: datetime  # tz-aware [UTC]
    power_mw: float  # injection positive
    soc: float | None = None  # state of charge [fraction], storage only


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)  # the first few rejections, explained

    def reject(self, reason: str, detail: str) -> None:
        self.rejected[reason] += 1
        if len(self.examples) < 20:
            self.examples.append(detail)


def capacity_mw(resource: Resource) -> float:
    """The largest power a resource can inject or draw [MW], from its parameters."""
    p: dict[str, Any] = resource.parameters
    match resource.resource_type:
        case ResourceType.PV:
            return float(p["ac_capacity_mw"])
        case ResourceType.WIND:
            return float(p["turbines"]) * power_curve(str(p["turbine_type"])).max_power_mw
        case ResourceType.BATTERY:
            return max(float(p["p_charge_max_mw"]), float(p["p_discharge_max_mw"]))
        case ResourceType.CURTAILABLE_LOAD:
            return float(p["peak_mw"])
        case ResourceType.SHIFTABLE_LOAD:
            return float(p["power_mw"])
        case ResourceType.EV_FLEET:
            return float(p["chargers"]) * float(p["charger_power_kw"]) / 1000.0
        case ResourceType.GENSET:
            return float(p["p_max_mw"])
        case ResourceType.HEAT_PUMP:
            return float(p["p_el_max_mw"])


def screen(
    points: list[TelemetryPoint], resources: dict[str, Resource]
) -> tuple[list[TelemetryPoint], IngestResult]:
    """Split a batch into points to store and counted rejections: unknown resource, not
    finite, out of range, out of order (older than what the resource already reported), and
    duplicates of a stored or an earlier point."""
    result = IngestResult()
    latest = {rid: r.last_seen_at for rid, r in resources.items()}
    seen: set[tuple[str, datetime]] = set()
    keep: list[TelemetryPoint] = []
    for i, point in enumerate(points):
        resource = resources.get(point.resource_id)
        if resource is None:
            result.reject("unknown_resource", f"points[{i}]: unknown resource")
            continue
        values = [point.power_mw] + ([point.soc] if point.soc is not None else [])
        if not all(math.isfinite(v) for v in values):
            result.reject("not_finite", f"points[{i}]: NaN or infinite value")
            continue
        limit = capacity_mw(resource) * PLAUSIBLE_FACTOR
        if abs(point.power_mw) > limit or (point.soc is not None and not 0 <= point.soc <= 1):
            result.reject(
                "out_of_range",
                f"points[{i}]: power_mw {point.power_mw} beyond ±{limit:g} MW "
                "or soc outside [0, 1]",
            )
            continue
        key = (point.resource_id, point.ts)
        last = latest.get(point.resource_id)
        if key in seen or (last is not None and point.ts == last):
            result.duplicates += 1
            continue
        if last is not None and point.ts < last:
            result.reject("out_of_order", f"points[{i}]: older than the latest reading {last}")
            continue
        seen.add(key)
        keep.append(point)
    keep.sort(key=lambda p: (p.resource_id, p.ts))
    result.accepted = len(keep)
    return keep, result
