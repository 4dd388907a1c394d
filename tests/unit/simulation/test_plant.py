"""The simulation's fleet in the device simulator (``openvpp.simulation.plant``)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from openvpp.simulation.loop import DEMO_BATTERY, PriceDays, SimulationConfig
from openvpp.simulation.plant import BatteryPlant


def _prices(first: str, n: int) -> PriceDays:
    dates = np.arange(np.datetime64(first), np.datetime64(first) + n)
    return PriceDays(dates, np.full((n, 24), 40.0), np.full((n, 24, 3), 40.0))


def test_for_days_starts_at_local_midnight_with_the_configs_fleet_noise_and_faults() -> None:
    config = SimulationConfig(
        market="US-ISO-DA",
        batteries=(DEMO_BATTERY, DEMO_BATTERY),
        end_soc=0.3,
        tracking_noise=0.02,
        fault_rate=0.5,
        seed=4,
    )
    plant = BatteryPlant.for_days(config, _prices("2018-12-20", 5), step_s=300.0)
    # midnight in New York (UTC-5 in December)
    assert plant.sim.now == datetime(2018, 12, 20, 5, tzinfo=UTC)
    assert plant.sim.step_s == 300.0 and plant.sim.telemetry_s == 300.0
    assert plant.sim.noise.tracking == 0.02
    np.testing.assert_allclose(plant.energy_mwh(), [0.3 * 4.0, 0.3 * 4.0])
    same = BatteryPlant(
        config.batteries,
        datetime(2018, 12, 20, 5, tzinfo=UTC),
        5,
        soc0=0.3,
        seed=4,
        fault_rate=0.5,
        tracking_noise=0.02,
        step_s=300.0,
    )
    assert plant.sim.faults.schedule == same.sim.faults.schedule
    assert len(plant.sim.faults.schedule) > 0


def test_a_twin_coarser_than_the_control_step_is_refused() -> None:
    """Setpoints hold for one 5-minute control step; a 15-minute twin delivered almost nothing
    of them (4.8 MWh of imbalance a day for the demo battery without correction)."""
    config = SimulationConfig()
    with pytest.raises(ValueError, match="step_s"):
        BatteryPlant.for_days(config, _prices("2018-12-20", 2), step_s=301.0)
    with pytest.raises(ValueError, match="step_s"):
        BatteryPlant.for_days(config, _prices("2018-12-20", 2), step_s=0.0)
