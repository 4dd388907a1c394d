"""Heat pump model: storage dynamics and flexibility bounds; the v2 template."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pydantic import ValidationError

from openvpp.resources.models.heat_pump import (
    HeatPumpSpec,
    demand_from_temperature,
    heat_pump_bounds,
    storage_energy_mwh,
    storage_temperature_c,
    storage_trajectory,
)
from openvpp.resources.templates import (
    BUILTIN,
    HeatPumpParameters,
    HeatPumpParametersV2,
    ResourceType,
)

SPEC = HeatPumpSpec(
    p_el_max_mw=0.2, cop=3.0, thermal_capacity_mwh=1.0, comfort_min_c=19.0, comfort_max_c=23.0
)


def test_storage_trajectory_by_hand() -> None:
    p = np.array([0.2, 0.0, 0.1])
    demand = np.full(3, 0.3)
    # (0.6 - 0.3) * 0.5 = +0.15, then -0.15, then 0
    np.testing.assert_allclose(storage_trajectory(SPEC, p, demand, 0.5, 0.5), [0.65, 0.5, 0.5])
    stack = storage_trajectory(
        SPEC, np.stack([p, p]), np.stack([demand, demand]), np.array([0.5, 0.0]), 0.5
    )
    np.testing.assert_allclose(stack[1], [0.15, 0.0, 0.0], atol=1e-12)


def test_temperature_mapping_and_demand() -> None:
    np.testing.assert_allclose(
        storage_energy_mwh(SPEC, [18.0, 19.0, 21.0, 23.0, 30.0]), [0, 0, 0.5, 1, 1]
    )
    np.testing.assert_allclose(storage_temperature_c(SPEC, [0.0, 0.25, 1.0]), [19.0, 20.0, 23.0])
    np.testing.assert_allclose(
        demand_from_temperature(np.array([25.0, 21.0, 0.0]), 0.01, 21.0), [0.0, 0.0, 0.21]
    )
    per_building = demand_from_temperature(np.array([11.0, 1.0]), np.array([[0.01], [0.02]]), 21.0)
    np.testing.assert_allclose(per_building, [[0.1, 0.2], [0.2, 0.4]])


def test_bounds_by_hand() -> None:
    # 0.3 MW_th demand, cop 3: holding the level takes 0.1 MW. From half full (0.5 MWh_th),
    # hourly steps of at most 0.2 MWh_el:
    #   earliest: 0.2, then the storage is full and follows the demand: (0.5 + 0.3 j) / 3
    #   latest: nothing until the storage is empty after 1.67 h, then (0.3 j - 0.5) / 3
    b = heat_pump_bounds(SPEC, np.full(4, 0.3), 0.5, 1.0)
    np.testing.assert_allclose(b.baseline_mw, np.full(4, 0.1))
    np.testing.assert_allclose(b.e_max_mwh, [0.2, 1.1 / 3, 1.4 / 3, 1.7 / 3])
    np.testing.assert_allclose(b.e_min_mwh, [0.0, 0.1 / 3, 0.4 / 3, 0.7 / 3], atol=1e-12)
    np.testing.assert_allclose(b.p_el_max_mw, [0.2, 0.2, 0.2, 0.2])
    np.testing.assert_allclose(b.p_el_min_mw, [0.0, 0.0, 0.0, 0.0], atol=1e-12)
    assert b.deficit_th_mwh == 0.0


def test_full_storage_must_not_heat_and_empty_must() -> None:
    full = heat_pump_bounds(SPEC, np.zeros(3), 1.0, 1.0)
    np.testing.assert_allclose(full.p_el_max_mw, np.zeros(3))
    empty = heat_pump_bounds(SPEC, np.full(3, 0.6), 0.0, 1.0)  # exactly full power needed
    np.testing.assert_allclose(empty.p_el_min_mw, np.full(3, 0.2))
    np.testing.assert_allclose(empty.e_min_mwh, empty.e_max_mwh)


def test_demand_beyond_the_heat_pump_is_reported() -> None:
    b = heat_pump_bounds(SPEC, np.full(4, 0.9), 0.5, 1.0)  # 0.3 MW_th more than full power
    # Full power drains 0.3 MWh_th per hour: empty after 1.67 h, 0.7 MWh_th short at the end.
    assert float(b.deficit_th_mwh) == pytest.approx(0.7)
    np.testing.assert_allclose(b.e_min_mwh, b.e_max_mwh)
    np.testing.assert_allclose(b.e_max_mwh, [0.2, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(b.baseline_mw, np.full(4, 0.2))


def test_start_outside_the_band_is_refused() -> None:
    with pytest.raises(ValueError, match="e0_mwh"):
        heat_pump_bounds(SPEC, np.zeros(2), 1.5, 1.0)


demands = arrays(np.float64, st.integers(1, 48), elements=st.floats(0.0, 0.9))


def _storage_of(cumulative: np.ndarray, demand: np.ndarray, e0: float, dt: float) -> np.ndarray:
    p = np.diff(cumulative, prepend=0.0) / dt
    return storage_trajectory(SPEC, p, demand, e0, dt)


@settings(max_examples=200)
@given(
    demand=demands,
    e0=st.floats(0.0, 1.0),
    dt=st.sampled_from([0.25, 0.5, 1.0]),
    data=st.data(),
)
def test_any_schedule_between_the_bounds_keeps_the_comfort_band(
    demand: np.ndarray, e0: float, dt: float, data: st.DataObject
) -> None:
    b = heat_pump_bounds(SPEC, demand, e0, dt)
    step = SPEC.p_el_max_mw * dt
    for e in (b.e_min_mwh, b.e_max_mwh):
        assert np.all(np.diff(e, prepend=0.0) >= -1e-12)
        assert np.all(np.diff(e, prepend=0.0) <= step + 1e-12)
    assert np.all(b.e_min_mwh <= b.e_max_mwh + 1e-12)
    assert np.all((b.p_el_min_mw >= 0) & (b.p_el_min_mw <= b.p_el_max_mw + 1e-12))
    assert np.all(b.p_el_max_mw <= SPEC.p_el_max_mw + 1e-12)
    cap = SPEC.thermal_capacity_mwh
    # Full power from the start leaves the band by at most the reported deficit.
    assert np.all(_storage_of(b.e_max_mwh, demand, e0, dt) >= -b.deficit_th_mwh - 1e-9)
    if b.deficit_th_mwh > 0:
        return
    # A random path through the bounds, one interval at a time (each step must have room).
    fractions = data.draw(st.lists(st.floats(0, 1), min_size=len(demand), max_size=len(demand)))
    path, level = [], 0.0
    for t, u in enumerate(fractions):
        lo = max(level + b.p_el_min_mw[t] * dt, b.e_min_mwh[t])
        hi = min(level + b.p_el_max_mw[t] * dt, b.e_max_mwh[t])
        assert lo <= hi + 1e-9
        level = lo + u * max(hi - lo, 0.0)
        path.append(level)
    for cumulative in (np.array(path), b.e_min_mwh, b.e_max_mwh):
        stored = _storage_of(cumulative, demand, e0, dt)
        assert np.all((stored >= -1e-9) & (stored <= cap + 1e-9))
    if np.all(demand <= SPEC.cop * SPEC.p_el_max_mw):
        # Holding the level is feasible, so the baseline lies within the per-interval bounds.
        assert np.all(b.p_el_min_mw <= b.baseline_mw + 1e-9)
        assert np.all(b.baseline_mw <= b.p_el_max_mw + 1e-9)


@given(demand=arrays(np.float64, (3, 24), elements=st.floats(0.0, 0.9)))
def test_bounds_are_vectorized_over_resources(demand: np.ndarray) -> None:
    e0 = np.array([0.0, 0.5, 1.0])
    stacked = heat_pump_bounds(SPEC, demand, e0, 0.5)
    for i in range(3):
        one = heat_pump_bounds(SPEC, demand[i], float(e0[i]), 0.5)
        np.testing.assert_allclose(stacked.e_min_mwh[i], one.e_min_mwh, atol=1e-12)
        np.testing.assert_allclose(stacked.e_max_mwh[i], one.e_max_mwh, atol=1e-12)
        np.testing.assert_allclose(stacked.p_el_min_mw[i], one.p_el_min_mw, atol=1e-12)
        np.testing.assert_allclose(stacked.p_el_max_mw[i], one.p_el_max_mw, atol=1e-12)
        assert stacked.deficit_th_mwh[i] == pytest.approx(float(one.deficit_th_mwh))


def test_v1_template_still_validates() -> None:
    assert BUILTIN[(ResourceType.HEAT_PUMP, 1)] is HeatPumpParameters
    assert HeatPumpParameters(cop=4.0).cop == 4.0
    assert "heat_loss_mw_per_k" not in HeatPumpParameters.model_fields


def test_v2_template() -> None:
    assert BUILTIN[(ResourceType.HEAT_PUMP, 2)] is HeatPumpParametersV2
    v2 = HeatPumpParametersV2(heat_loss_mw_per_k=0.02)
    demand = demand_from_temperature(np.array([1.0]), v2.heat_loss_mw_per_k, v2.indoor_setpoint_c)
    assert demand[0] == pytest.approx(0.4)
    with pytest.raises(ValidationError, match="comfort_min_c must be below comfort_max_c"):
        HeatPumpParametersV2(comfort_min_c=22.0, comfort_max_c=21.0)
    with pytest.raises(ValidationError, match="indoor_setpoint_c"):
        HeatPumpParametersV2(indoor_setpoint_c=25.0)
    with pytest.raises(ValidationError) as err:
        HeatPumpParametersV2(heat_loss_mw_per_k=0.0)
    assert err.value.errors()[0]["loc"] == ("heat_loss_mw_per_k",)
