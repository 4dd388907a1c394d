"""Wind model: library power curves, hub-height correction, farm output."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from openvpp.resources.models.wind import (
    WindSpec,
    hub_wind_speed,
    power_curve,
    turbine_types,
    wind_power_mw,
)

SHARED = Path(__file__).parents[4] / "shared" / "data" / "wind" / "oedb_power_curves.csv"
SPEC = WindSpec(turbine_type="E-101/3050", hub_height_m=99.0, turbines=3, farm_efficiency=1.0)


def test_library_has_common_turbines() -> None:
    assert {"E-101/3050", "V126/3300"} <= turbine_types()
    assert power_curve("E-101/3050").max_power_mw == pytest.approx(3.0)  # nameplate 3.05


def test_unknown_turbine_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown turbine"):
        power_curve("Nope-1/1")


def test_output_follows_the_curve_at_hub_height() -> None:
    speeds = np.array([0.0, 1.0, 6.0, 12.0, 15.0, 40.0])
    power = wind_power_mw(SPEC, speeds, measured_at_m=99.0)
    assert power[0] == power[1] == 0.0  # below cut-in
    assert power[3] == pytest.approx(3 * 3.0, rel=1e-6)  # 12 m/s: 3,000 kW per turbine
    assert power[4] == pytest.approx(3 * 3.0, rel=1e-6)  # rated: the curve tops at 3,000 kW
    assert power[5] == 0.0  # beyond cut-out the curve has no power
    assert np.all(np.diff(power[:5]) >= 0)


def test_speed_grows_with_height() -> None:
    low = np.array([5.0, 8.0])
    high = hub_wind_speed(low, 10.0, 100.0, 0.15)
    assert np.all(high > low)
    assert high[0] / low[0] == pytest.approx(np.log(100 / 0.15) / np.log(10 / 0.15))


def test_farm_efficiency_scales_output() -> None:
    lossy = WindSpec(turbine_type="E-101/3050", hub_height_m=99.0, turbines=3, farm_efficiency=0.9)
    speeds = np.array([8.0])
    assert wind_power_mw(lossy, speeds, 99.0)[0] == pytest.approx(
        0.9 * wind_power_mw(SPEC, speeds, 99.0)[0]
    )


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data (OEDB power curves) not present")
def test_library_curve_matches_the_oedb_snapshot() -> None:
    with SHARED.open() as fh:
        rows = {row[0]: row[1:] for row in csv.reader(fh)}
    header = [float(v) for v in rows["turbine_type"]]
    values = rows["E-101/3050"]
    shared = {s: float(v) for s, v in zip(header, values, strict=True) if v}
    curve = power_curve("E-101/3050")
    ours = dict(zip(curve.wind_speed_ms.tolist(), curve.power_w.tolist(), strict=True))
    for speed, power in shared.items():
        assert ours[speed] == pytest.approx(power)
