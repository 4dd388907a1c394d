"""A fleet built from the project's resources through the aggregation engine, disaggregated."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from openvpp.aggregation.engine import Unit, horizon, local_days
from openvpp.dispatch.disaggregate import disaggregate
from openvpp.dispatch.fleet import battery_spec, fleet_from_units
from openvpp.dispatch.setpoints import build_setpoints, default_fallback_mw
from openvpp.resources.model import ResourceStatus
from openvpp.resources.models.battery import soc_trajectory
from openvpp.resources.telemetry import TelemetryPoint
from openvpp.resources.templates import BUILTIN, ResourceType

NOW = datetime(2026, 6, 20, 22, tzinfo=UTC)


def unit(kind: ResourceType, rid: str, **params: Any) -> Unit:
    version = max(v for k, v in BUILTIN if k is kind)
    full = BUILTIN[(kind, version)].model_validate(params).model_dump()
    return Unit(rid, kind, full, 48.1, 11.6, ResourceStatus.ONLINE)


UNITS = [
    unit(ResourceType.PV, "pv", dc_capacity_mw=2.0, ac_capacity_mw=1.6),
    unit(ResourceType.BATTERY, "bat", energy_mwh=4.0, p_charge_max_mw=2.0, p_discharge_max_mw=2.0),
    unit(ResourceType.CURTAILABLE_LOAD, "load", peak_mw=1.5),
    unit(
        ResourceType.SHIFTABLE_LOAD,
        "cold",
        power_mw=0.5,
        energy_per_day_mwh=3.0,
        window_start_h=6.0,
        window_end_h=20.0,
    ),
]


@pytest.mark.parametrize("resolution", [15, 60])
def test_engine_fleet_disaggregates_within_every_bound(resolution: int) -> None:
    index = horizon(*local_days(date(2026, 6, 21), 1, "Europe/Berlin"), resolution)
    readings = {"bat": TelemetryPoint("bat", NOW, 0.0, soc=0.8)}
    fleet, kinds, _ = fleet_from_units(UNITS, index, tz="Europe/Berlin", now=NOW, readings=readings)
    dt = resolution / 60
    n, t = fleet.shape
    assert (n, t) == (4, 24 * 60 // resolution)
    assert fleet.storage is not None
    assert fleet.storage.energy_mwh[0] == pytest.approx(0.8 * 4.0)
    # ask for 1 MW more than the baseline all day: the battery and the loads cover it
    target = fleet.baseline_mw.sum(axis=0) + 1.0
    plan = disaggregate(fleet, target, dt)
    assert np.all(plan.p_mw >= fleet.p_min_mw - 1e-9)
    assert np.all(plan.p_mw <= fleet.p_max_mw + 1e-9)
    assert fleet.e_min_mwh is not None and fleet.e_max_mwh is not None
    cum = np.cumsum(plan.p_mw * dt, axis=1)
    cold = 3
    assert np.all(cum[cold] >= fleet.e_min_mwh[cold] - 1e-6)
    assert np.all(cum[cold] <= fleet.e_max_mwh[cold] + 1e-6)
    assert cum[cold, -1] == pytest.approx(-3.0, abs=1e-6)  # the cold store gets its energy
    assert plan.stored_mwh is not None
    spec_energy = soc_trajectory(battery_spec(UNITS[1].parameters), plan.p_mw[1], 3.2, dt)
    assert plan.stored_mwh[0, 1:] == pytest.approx(spec_energy)
    assert plan.total_mw + plan.residual_mw == pytest.approx(target)
    # the battery's 2.85 MWh above its minimum cover the first two hours, not the whole day
    assert plan.residual_mw[: t // 12].max() == pytest.approx(0.0, abs=1e-9)
    assert plan.residual_mw.max() > 0
    sps, _ = build_setpoints(
        plan.p_mw,
        fleet.resource_ids,
        [x.to_pydatetime() for x in index],
        timedelta(minutes=resolution),
        organization_id="org",
        issued_at=NOW,
        fallback_mw=default_fallback_mw(kinds, fleet.baseline_mw),
    )
    load_fb = {s.fallback_mw for s in sps if s.resource_id == "load"}
    assert max(load_fb) < 0  # loads fall back to their baseline consumption
    assert {s.fallback_mw for s in sps if s.resource_id in ("pv", "bat")} == {0.0}
