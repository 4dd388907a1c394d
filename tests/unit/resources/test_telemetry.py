"""Telemetry screening: every bad reading is rejected and counted, nothing else."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from openvpp.resources.model import Resource, ResourceStatus
from openvpp.resources.telemetry import TelemetryPoint, capacity_mw, screen
from openvpp.resources.templates import BUILTIN, ResourceType

T0 = datetime(2026, 10, 25, tzinfo=UTC)


def resource(kind: ResourceType = ResourceType.BATTERY, last: datetime | None = None) -> Resource:
    params = BUILTIN[(kind, 1)]().model_dump()
    return Resource(
        id="r1",
        organization_id="o",
        name="r",
        resource_type=kind,
        template_version=1,
        parameters=params,
        grid_node="n",
        latitude=None,
        longitude=None,
        status=ResourceStatus.OFFLINE,
        status_changed_at=T0,
        created_at=T0,
        updated_at=T0,
        last_seen_at=last,
    )


def test_every_type_has_a_capacity() -> None:
    for kind in ResourceType:
        assert capacity_mw(resource(kind)) > 0


def test_screening_counts_each_reason() -> None:
    points = [
        TelemetryPoint("r1", T0, 0.5),
        TelemetryPoint("r1", T0 + timedelta(minutes=15), math.nan),
        TelemetryPoint("r1", T0 + timedelta(minutes=30), math.inf),
        TelemetryPoint("r1", T0 + timedelta(minutes=45), 99.0),
        TelemetryPoint("r1", T0 + timedelta(minutes=60), 0.1, soc=-0.1),
        TelemetryPoint("zz", T0, 0.1),
        TelemetryPoint("r1", T0, 0.5),
    ]
    keep, result = screen(points, {"r1": resource()})
    assert [p.ts for p in keep] == [T0]
    assert result.accepted == 1
    assert result.duplicates == 1
    assert dict(result.rejected) == {"not_finite": 2, "out_of_range": 2, "unknown_resource": 1}
    assert len(result.examples) == 5


def test_points_older_than_the_latest_reading_are_out_of_order() -> None:
    keep, result = screen(
        [
            TelemetryPoint("r1", T0 - timedelta(minutes=15), 0.1),
            TelemetryPoint("r1", T0, 0.1),
            TelemetryPoint("r1", T0 + timedelta(minutes=15), 0.1),
        ],
        {"r1": resource(last=T0)},
    )
    assert [p.ts for p in keep] == [T0 + timedelta(minutes=15)]
    assert result.duplicates == 1
    assert dict(result.rejected) == {"out_of_order": 1}


def test_wind_capacity_comes_from_the_turbine_curve() -> None:
    farm = resource(ResourceType.WIND)  # default: one E-101/3050, curve tops at 3.0 MW
    assert capacity_mw(farm) == 3.0
    _, result = screen(
        [TelemetryPoint("r1", T0, 3.5), TelemetryPoint("r1", T0 + timedelta(minutes=15), 4.0)],
        {"r1": farm},
    )
    assert result.accepted == 1  # 3.5 MW is within 1.2 x 3.0; 4.0 MW is not
    assert dict(result.rejected) == {"out_of_range": 1}
