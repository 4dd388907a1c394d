"""Genset model: fuel cost, schedule checks and reachable bounds; the v2 template."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from openvpp.resources.models.genset import (
    GensetSpec,
    check_schedule,
    fuel_cost_eur,
    fuel_cost_rate_eur_per_h,
    genset_bounds,
    ramp_step_mw,
    start_limit_mw,
)
from openvpp.resources.templates import (
    BUILTIN,
    GensetParameters,
    GensetParametersV2,
    ResourceType,
)

DT = 0.25
# Ramp 0.01 MW/min = 0.15 MW per quarter-hour; start-up/shut-down limit max(0.3, 0.15) = 0.3.
SPEC = GensetSpec(
    p_min_mw=0.3,
    p_max_mw=1.0,
    ramp_mw_per_min=0.01,
    min_up_h=1.0,
    min_down_h=0.5,
    cost_curve=((0.3, 27.0), (0.6, 54.0), (1.0, 94.0)),
    no_load_cost_eur_per_h=10.0,
    start_cost_eur=50.0,
)


def test_ramp_and_start_limits() -> None:
    assert ramp_step_mw(SPEC, DT) == pytest.approx(0.15)
    assert start_limit_mw(SPEC, DT) == pytest.approx(0.3)
    assert start_limit_mw(SPEC, 1.0) == pytest.approx(0.6)  # ramp step above p_min


def test_fuel_cost_by_hand() -> None:
    p = np.array([0.0, 0.3, 0.45, 1.0, 0.0])
    # start: 50 + (10 + 27) / 4; 0.45 MW: 27 + 0.15 * 90 = 40.5 -> (10 + 40.5) / 4; full: 104 / 4
    np.testing.assert_allclose(fuel_cost_eur(SPEC, p, DT), [0.0, 59.25, 12.625, 26.0, 0.0])
    # Already running: no start cost.
    running = fuel_cost_eur(SPEC, p[1:], DT, initially_on=True)
    np.testing.assert_allclose(running, [9.25, 12.625, 26.0, 0.0])


def test_fuel_cost_is_vectorized_over_units() -> None:
    stack = np.array([[0.0, 0.6, 0.6], [0.3, 0.0, 1.0]])
    out = fuel_cost_eur(SPEC, stack, DT, initially_on=np.array([False, True]))
    np.testing.assert_allclose(out[0], fuel_cost_eur(SPEC, stack[0], DT))
    np.testing.assert_allclose(out[1], fuel_cost_eur(SPEC, stack[1], DT, initially_on=True))


@given(a=st.floats(0.3, 1.0), b=st.floats(0.3, 1.0), lam=st.floats(0.0, 1.0), off=st.booleans())
def test_fuel_cost_is_convex_and_zero_when_off(a: float, b: float, lam: float, off: bool) -> None:
    rate = fuel_cost_rate_eur_per_h
    mid = rate(SPEC, np.array(lam * a + (1 - lam) * b))
    chord = lam * rate(SPEC, np.array(a)) + (1 - lam) * rate(SPEC, np.array(b))
    assert mid <= chord + 1e-9
    p = np.array([0.0, a, 0.0, b]) if off else np.array([a, b])
    cost = fuel_cost_eur(SPEC, p, DT)
    assert np.all(cost[p == 0.0] == 0.0)
    assert np.all(cost[p > 0.0] > 0.0)


def test_spec_rejects_bad_curves() -> None:
    with pytest.raises(ValueError, match="convex"):
        GensetSpec(0.3, 1.0, 0.01, 1.0, 0.5, ((0.3, 30.0), (0.6, 70.0), (1.0, 90.0)))
    with pytest.raises(ValueError, match="cover"):
        GensetSpec(0.3, 1.0, 0.01, 1.0, 0.5, ((0.3, 30.0), (0.8, 70.0)))
    with pytest.raises(ValueError, match="increasing"):
        GensetSpec(0.3, 1.0, 0.01, 1.0, 0.5, ((0.3, 30.0), (0.3, 40.0), (1.0, 90.0)))
    linear = GensetSpec.linear(0.3, 1.0, 0.01, 1.0, 0.5, fuel_cost_per_mwh=90.0)
    assert fuel_cost_rate_eur_per_h(linear, np.array(0.5)) == pytest.approx(45.0)


VALID = np.array([0.0, 0.3, 0.45, 0.6, 0.6, 0.45, 0.3, 0.0, 0.0, 0.3])


def test_valid_schedule_passes() -> None:
    assert check_schedule(SPEC, VALID, DT, initially_on=False, hours_in_state=2.0) == []
    assert check_schedule(SPEC, VALID, DT, initially_on=False, hours_in_state=2.0, p0_mw=0.0) == []
    # Still running at the end of the horizon after only 0.25 h: not a violation.
    assert (
        check_schedule(SPEC, np.array([0.3, 0.45]), DT, initially_on=True, hours_in_state=0) == []
    )


@pytest.mark.parametrize(
    ("p", "initially_on", "hours", "p0", "interval", "words"),
    [
        ([0.0, 0.2, 0.3, 0.3, 0.3], False, 2.0, 0.0, 1, "below p_min"),
        ([0.9, 1.0, 1.05], True, 2.0, 0.9, 2, "above p_max"),
        ([0.3, 0.6], True, 2.0, 0.3, 1, "ramp exceeded, output changes"),
        ([0.0, 0.45, 0.45, 0.45, 0.45], False, 2.0, 0.0, 1, "start-up limit"),
        ([0.45, 0.0], True, 2.0, 0.45, 1, "shut-down limit"),
        ([0.0, 0.3, 0.3, 0.0], False, 2.0, 0.0, 3, "switched off after 0.5 h on (min_up_h 1 h)"),
        ([0.3, 0.0, 0.3], True, 2.0, 0.3, 2, "switched on after 0.25 h off (min_down_h 0.5 h)"),
        ([0.3, 0.3], False, 0.25, 0.0, 0, "switched on after 0.25 h off"),  # just stopped
        ([0.3, 0.0], True, 0.5, 0.3, 1, "switched off after 0.75 h on"),  # just started
        ([0.3, -0.1], True, 2.0, 0.3, 1, "negative output"),
    ],
)
def test_each_violation_is_named(
    p: list[float], initially_on: bool, hours: float, p0: float, interval: int, words: str
) -> None:
    found = check_schedule(
        SPEC, np.array(p), DT, initially_on=initially_on, hours_in_state=hours, p0_mw=p0
    )
    assert any(m.startswith(f"interval {interval}: ") and words in m for m in found), found


def test_several_violations_are_ordered_by_interval() -> None:
    p = np.array([0.3, 0.9, 0.0, 1.2])
    found = check_schedule(SPEC, p, DT, initially_on=True, hours_in_state=3.0, p0_mw=0.3)
    intervals = [int(m.split(":")[0].removeprefix("interval ")) for m in found]
    assert intervals == sorted(intervals)
    assert {1, 2, 3} <= set(intervals)


def test_bounds_of_a_running_unit_by_hand() -> None:
    # Running at 1.0 MW for 0.25 h: on for 3 more intervals (min up), and ramping down to
    # the shut-down limit 0.3 MW takes until interval 4.
    b = genset_bounds(SPEC, 8, DT, on=True, p0_mw=1.0, hours_in_state=0.25)
    np.testing.assert_allclose(b.p_min_mw, [0.85, 0.7, 0.55, 0.4, 0.3, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(b.p_max_mw, np.ones(8))
    assert b.must_run.tolist() == [True] * 5 + [False] * 3
    assert b.may_run.all()
    # Just started at p_min: cannot be off before one hour has passed.
    b = genset_bounds(SPEC, 6, DT, on=True, p0_mw=0.3, hours_in_state=0.0)
    assert b.must_run.tolist() == [True] * 4 + [False] * 2
    np.testing.assert_allclose(b.p_max_mw, [0.45, 0.6, 0.75, 0.9, 1.0, 1.0])


def test_bounds_of_a_stopped_unit_by_hand() -> None:
    # Just stopped: off for min_down 0.5 h, then starts at up to 0.3 MW and ramps 0.15 MW.
    b = genset_bounds(SPEC, 8, DT, on=False, p0_mw=0.0, hours_in_state=0.0)
    np.testing.assert_allclose(b.p_max_mw, [0.0, 0.0, 0.3, 0.45, 0.6, 0.75, 0.9, 1.0])
    np.testing.assert_allclose(b.p_min_mw, np.zeros(8))
    assert b.may_run.tolist() == [False, False] + [True] * 6
    assert not b.must_run.any()
    with pytest.raises(ValueError, match="p0_mw"):
        genset_bounds(SPEC, 4, DT, on=True, p0_mw=0.1, hours_in_state=1.0)


def _walk(on: bool, p0: float, hours: float, moves: list[tuple[float, bool]]) -> list[float]:
    """A schedule built step by step within the ramp, start/stop and min up/down rules."""
    step, limit = ramp_step_mw(SPEC, DT), start_limit_mw(SPEC, DT)
    out, prev, state, run = [], p0, on, hours
    for u, switch in moves:
        need = SPEC.min_up_h if state else SPEC.min_down_h
        if switch and run >= need - 1e-9 and (not state or prev <= limit + 1e-9):
            state, run = not state, 0.0
            p = SPEC.p_min_mw + u * (limit - SPEC.p_min_mw) if state else 0.0
        elif state:
            p = min(max(prev + (2 * u - 1) * step, SPEC.p_min_mw), SPEC.p_max_mw)
        else:
            p = 0.0
        run += DT
        out.append(p)
        prev = p
    return out


@settings(max_examples=200)
@given(
    on=st.booleans(),
    level=st.floats(0.0, 1.0),
    hours=st.sampled_from([0.0, 0.25, 0.5, 0.75, 3.0]),
    moves=st.lists(st.tuples(st.floats(0.0, 1.0), st.booleans()), min_size=1, max_size=40),
)
def test_feasible_schedules_pass_and_stay_within_bounds(
    on: bool, level: float, hours: float, moves: list[tuple[float, bool]]
) -> None:
    p0 = SPEC.p_min_mw + level * (SPEC.p_max_mw - SPEC.p_min_mw) if on else 0.0
    p = np.array(_walk(on, p0, hours, moves))
    assert check_schedule(SPEC, p, DT, initially_on=on, hours_in_state=hours, p0_mw=p0) == []
    b = genset_bounds(SPEC, len(p), DT, on=on, p0_mw=p0, hours_in_state=hours)
    assert np.all(b.p_min_mw <= p + 1e-9)
    assert np.all(p <= b.p_max_mw + 1e-9)
    assert not np.any(b.must_run & (p == 0.0))
    assert not np.any(~b.may_run & (p > 0.0))


def test_v1_template_still_validates() -> None:
    assert BUILTIN[(ResourceType.GENSET, 1)] is GensetParameters
    v1 = GensetParameters(p_min_mw=0.2, fuel_cost_per_mwh=80.0)
    assert v1.fuel_cost_per_mwh == 80.0
    assert "fuel_cost_curve" not in GensetParameters.model_fields


def test_v2_template_builds_a_spec() -> None:
    assert BUILTIN[(ResourceType.GENSET, 2)] is GensetParametersV2
    v2 = GensetParametersV2()
    spec = GensetSpec(
        v2.p_min_mw,
        v2.p_max_mw,
        v2.ramp_mw_per_min,
        v2.min_up_h,
        v2.min_down_h,
        tuple((pt.p_mw, pt.cost_eur_per_h) for pt in v2.fuel_cost_curve),
        no_load_cost_eur_per_h=v2.no_load_cost_eur_per_h,
    )
    assert fuel_cost_rate_eur_per_h(spec, np.array(1.0)) == pytest.approx(104.0)
    custom = GensetParametersV2(
        fuel_cost_curve=[
            {"p_mw": 0.0, "cost_eur_per_h": 0.0},
            {"p_mw": 2.0, "cost_eur_per_h": 200},
        ],
        p_max_mw=2.0,
    )
    assert custom.fuel_cost_curve[1].p_mw == 2.0


@pytest.mark.parametrize(
    ("curve", "message"),
    [
        ([(0.3, 30.0), (0.6, 70.0), (1.0, 90.0)], "convex"),  # marginal 133 then 50
        ([(0.3, 30.0), (0.3, 40.0), (1.0, 90.0)], "strictly increasing"),
        ([(0.3, 30.0)], "at least 2"),
        ([(0.3 + 0.05 * i, 30.0 + 5 * i) for i in range(11)], "at most 10"),
    ],
)
def test_v2_rejects_bad_cost_curves_naming_the_field(
    curve: list[tuple[float, float]], message: str
) -> None:
    points = [{"p_mw": p, "cost_eur_per_h": c} for p, c in curve]
    with pytest.raises(ValidationError, match=message) as err:
        GensetParametersV2(fuel_cost_curve=points)
    assert err.value.errors()[0]["loc"] == ("fuel_cost_curve",)


def test_v2_curve_must_cover_the_operating_range() -> None:
    points = [{"p_mw": 0.3, "cost_eur_per_h": 27.0}, {"p_mw": 0.8, "cost_eur_per_h": 72.0}]
    with pytest.raises(ValidationError, match="fuel_cost_curve must cover"):
        GensetParametersV2(fuel_cost_curve=points)
