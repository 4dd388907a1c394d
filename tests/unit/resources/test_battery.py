"""Battery model: SoC dynamics and feasibility (property tests)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from openvpp.resources.models.battery import (
    BatterySpec,
    clip_to_feasible,
    soc_trajectory,
    throughput_mwh,
)

SPEC = BatterySpec(
    energy_mwh=2.0,
    p_charge_max_mw=1.0,
    p_discharge_max_mw=1.2,
    eta_charge=0.95,
    eta_discharge=0.94,
    soc_min=0.1,
    soc_max=0.9,
    self_discharge_per_h=0.001,
)

powers = arrays(np.float64, st.integers(1, 96), elements=st.floats(-5, 5, allow_nan=False))


@settings(max_examples=200)
@given(p=powers, soc0=st.floats(0.2, 1.8), dt=st.sampled_from([0.25, 0.5, 1.0]))
def test_clipped_schedules_keep_soc_and_power_within_limits(
    p: np.ndarray, soc0: float, dt: float
) -> None:
    feasible = clip_to_feasible(SPEC, p, soc0, dt)
    assert np.all(feasible <= SPEC.p_discharge_max_mw + 1e-12)
    assert np.all(feasible >= -SPEC.p_charge_max_mw - 1e-12)
    energy = soc_trajectory(SPEC, feasible, soc0, dt)
    # Only self-discharge may take the energy below the minimum, by at most its decay.
    decay = (1 - SPEC.self_discharge_per_h) ** (dt * np.arange(1, len(p) + 1))
    assert np.all(energy >= SPEC.soc_min * SPEC.energy_mwh * decay - 1e-9)
    assert np.all(energy <= SPEC.soc_max * SPEC.energy_mwh + 1e-9)
    lossless = BatterySpec(2.0, 1.0, 1.2, 0.95, 0.94, 0.1, 0.9)
    strict = soc_trajectory(lossless, clip_to_feasible(lossless, p, soc0, dt), soc0, dt)
    assert np.all((strict >= 0.2 - 1e-9) & (strict <= 1.8 + 1e-9))


@given(p=powers, soc0=st.floats(0.2, 1.8))
def test_vectorized_trajectory_equals_the_recurrence(p: np.ndarray, soc0: float) -> None:
    dt = 0.25
    keep = (1 - SPEC.self_discharge_per_h) ** dt
    energy, expected = soc0, []
    for x in p:
        delta = -x * SPEC.eta_charge if x < 0 else -x / SPEC.eta_discharge
        energy = energy * keep + delta * dt
        expected.append(energy)
    np.testing.assert_allclose(soc_trajectory(SPEC, p, soc0, dt), expected, rtol=1e-9, atol=1e-9)


def test_feasible_schedule_is_left_alone() -> None:
    p = np.array([0.5, -0.5, 0.2, 0.0, -0.3])
    np.testing.assert_allclose(clip_to_feasible(SPEC, p, 1.0, 0.25), p)


def test_full_battery_cannot_charge_and_empty_cannot_discharge() -> None:
    full, empty = SPEC.soc_max * SPEC.energy_mwh, SPEC.soc_min * SPEC.energy_mwh
    assert clip_to_feasible(SPEC, np.array([-1.0]), full, 1.0)[0] > -0.01  # only self-discharge
    assert clip_to_feasible(SPEC, np.array([1.0]), empty, 1.0)[0] == 0.0


def test_round_trip_loses_energy_to_efficiency() -> None:
    lossless = BatterySpec(2.0, 1.0, 1.0, 0.9, 0.9, 0.0, 1.0)
    end = soc_trajectory(lossless, np.array([-1.0, 0.81]), 0.5, 1.0)
    # Charging 1 MWh stores 0.9; delivering 0.81 MWh draws 0.9.
    np.testing.assert_allclose(end, [1.4, 0.5])
    assert throughput_mwh(np.array([-1.0, 0.81]), 1.0) == 1.81
