"""Envelopes of single resources: signs and ranges follow the convention (injection > 0)."""

from __future__ import annotations

import numpy as np
import pytest

from openvpp.aggregation.envelope import aggregate
from openvpp.aggregation.resources import (
    battery_envelope,
    curtailable_load_envelope,
    ev_fleet_envelope,
    generator_envelope,
    genset_envelope,
    heat_pump_envelope,
)
from openvpp.resources.models.battery import BatterySpec
from openvpp.resources.models.ev import fleet_bounds

T = 8


def test_each_type_has_the_expected_signs() -> None:
    pv = generator_envelope(np.array([0, 0.2, 0.5, -0.1, 0.7, 0.3, 0, 0]))
    assert pv.p_min_mw.tolist() == [0.0] * T
    assert pv.baseline_mw[3] == 0.0  # a negative forecast is no forecast
    battery = battery_envelope(BatterySpec(2, 1, 1.5, 0.95, 0.95, 0.1, 0.9), T)
    assert (battery.p_min_mw == -1).all() and (battery.p_max_mw == 1.5).all()
    load = curtailable_load_envelope(np.full(T, 2.0), 0.25)
    assert (load.baseline_mw == -2).all() and (load.p_max_mw == -1.5).all()
    assert (load.up_mw == 0.5).all() and (load.down_mw == 0).all()
    bounds = fleet_bounds(
        np.array([0.0]),
        np.array([2.0]),
        np.array([0.01]),
        np.array([0.01]),
        np.arange(T) * 0.25,
        0.25,
    )
    ev = ev_fleet_envelope(bounds, 0.25)
    assert ev.baseline_mw.sum() * 0.25 == pytest.approx(-0.01)  # charges its request
    assert (ev.p_max_mw == 0).all()
    genset = genset_envelope(1.0, T, running=True, p_min_mw=0.3)
    assert (genset.baseline_mw == 0.3).all()
    hp = heat_pump_envelope(np.full(T, 0.1), 0.2)
    assert (hp.p_min_mw == -0.2).all() and (hp.baseline_mw == -0.1).all()


def test_a_park_aggregates_to_the_sum_of_its_members() -> None:
    members = [
        generator_envelope(np.linspace(0, 1, T)),
        battery_envelope(BatterySpec(2, 1, 1, 0.95, 0.95, 0.1, 0.9), T),
        curtailable_load_envelope(np.full(T, 0.8), 0.5),
    ]
    stack = [
        np.stack([getattr(m, k) for m in members]) for k in ("baseline_mw", "p_min_mw", "p_max_mw")
    ]
    vpp = aggregate(*stack, share=np.array([1.0, 0.5, 1.0]))
    expected_max = members[0].p_max_mw + 0.5 * members[1].p_max_mw + members[2].p_max_mw
    np.testing.assert_allclose(vpp.p_max_mw, expected_max)
