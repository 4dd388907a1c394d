"""Metered energy, scheduled-versus-metered frames, alerts and the live interval estimate."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.dispatch.monitoring import (
    VPP,
    AlertKind,
    DeviationThresholds,
    SeverityLevel,
    alerts,
    compare,
    live_estimate,
    metered_energy,
)
from openvpp.dispatch.protocol import TelemetrySample
from openvpp.ops.model import Severity
from openvpp.resources.telemetry import TelemetryPoint

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
QH = timedelta(minutes=15)
GAP = timedelta(minutes=5)


def at(minutes: float, p_mw: float, rid: str = "a") -> TelemetrySample:
    return TelemetrySample(rid, T0 + timedelta(minutes=minutes), p_mw, seq=0)


def grid(periods: int, minutes: int = 15) -> pd.DatetimeIndex:
    return pd.date_range(T0, periods=periods, freq=f"{minutes}min")


# --------------------------------------------------------------------------- metering


def test_metered_energy_hand_computed_with_gaps_and_irregular_samples() -> None:
    samples = [at(-1, 1.0), at(4, 2.0), at(20, 3.0), at(29, 4.0), at(0, 5.0, "b"), at(40, 9, "b")]
    m = metered_energy(samples, grid(2), max_gap=GAP)
    assert m.resource_ids == ("a", "b")
    # a, 10:00-10:15: 1 MW for 4 min (held from 09:59 until the next sample), 2 MW for 5 min
    # (max gap), then nothing: 14 MW·min over 9 metered minutes.
    # a, 10:15-10:30: gap to 10:20, 3 MW for 5 min, gap, 4 MW for 1 min: 19 MW·min over 6 min.
    # b: 5 MW for 5 min, then silent (its 10:40 sample lies after the grid).
    np.testing.assert_allclose(m.energy_mwh, np.array([[14, 19], [25, 0]]) / 60)
    np.testing.assert_allclose(m.coverage, np.array([[9, 6], [5, 0]]) / 15)
    np.testing.assert_allclose(m.power_mw[0], [14 / 9, 19 / 6])
    assert m.power_mw[1, 0] == pytest.approx(5.0)
    assert math.isnan(m.power_mw[1, 1])  # nothing metered: no value invented
    assert m.gaps.tolist() == [[1, 2], [1, 1]]  # a's 10:09-10:20 gap touches both intervals
    assert m.samples.tolist() == [[1, 2], [1, 0]]
    np.testing.assert_allclose(m.estimated_mwh[0], [14 / 9 / 4, 19 / 6 / 4])


def test_metered_energy_hourly_intervals_and_stored_points() -> None:
    points = [
        TelemetryPoint("pv", T0 + timedelta(minutes=k * 10), float(k)) for k in range(12)
    ]  # every 10 min for two hours
    m = metered_energy(points, grid(2, 60), max_gap=timedelta(minutes=15))
    assert m.interval_h == 1.0
    np.testing.assert_allclose(m.coverage, [[1.0, 1.0]])
    # each value holds 10 min: (0+1+...+5)/6 and (6+...+11)/6
    np.testing.assert_allclose(m.energy_mwh, [[15 / 6, 51 / 6]])
    np.testing.assert_allclose(m.power_mw, [[2.5, 8.5]])
    assert m.gaps.tolist() == [[0, 0]]


def test_a_missing_reading_ends_the_hold_and_covers_nothing() -> None:
    m = metered_energy([at(0, 2.0), at(3, math.nan), at(10, 1.0)], grid(1), max_gap=GAP)
    # 2 MW for 3 min; the NaN reading covers nothing until 10:10; 1 MW for 5 min
    assert m.energy_mwh[0, 0] == pytest.approx((6 + 5) / 60)
    assert m.coverage[0, 0] == pytest.approx(8 / 15)
    assert m.gaps[0, 0] == 1


def test_unknown_rows_and_requested_rows() -> None:
    m = metered_energy([at(0, 1.0, "x")], grid(1), resource_ids=["a", "x"], max_gap=GAP)
    assert m.resource_ids == ("a", "x")
    assert m.coverage[0, 0] == 0.0
    assert m.gaps[0, 0] == 1
    assert m.energy_mwh[1, 0] == pytest.approx(5 / 60)
    with pytest.raises(ValueError, match="unique"):
        metered_energy([], grid(1), resource_ids=["a", "a"])
    with pytest.raises(ValueError, match="tz-aware"):
        metered_energy([], pd.date_range("2026-12-06", periods=2, freq="15min"))


def test_until_caps_the_hold_and_the_future_is_no_gap() -> None:
    m = metered_energy([at(0, 4.0)], grid(1), max_gap=QH, until=T0 + timedelta(minutes=6))
    assert m.energy_mwh[0, 0] == pytest.approx(4 * 6 / 60)
    assert m.coverage[0, 0] == pytest.approx(6 / 15)
    assert m.gaps[0, 0] == 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.integers(-600, 3000),  # [s] from the grid start
            st.floats(-5, 5, allow_nan=False),
        ),
        max_size=40,
        unique_by=lambda x: (x[0], x[1]),
    ),
    st.integers(1, 900),
)
def test_metered_energy_matches_second_by_second_integration(
    raw: list[tuple[str, int, float]], gap_s: int
) -> None:
    samples = [TelemetrySample(r, T0 + timedelta(seconds=s), p, 0) for r, s, p in raw]
    rows = ["a", "b", "c"]
    m = metered_energy(samples, grid(3), resource_ids=rows, max_gap=timedelta(seconds=gap_s))
    horizon = 3 * 900
    for i, rid in enumerate(rows):
        mine = sorted((s, p) for r, s, p in raw if r == rid)
        power = np.zeros(horizon)
        held = np.zeros(horizon, dtype=bool)
        for k, (s, p) in enumerate(mine):
            stop = min(s + gap_s, mine[k + 1][0] if k + 1 < len(mine) else horizon, horizon)
            lo = max(s, 0)
            if stop > lo:
                power[lo:stop], held[lo:stop] = p, True
        energy = power.reshape(3, 900).sum(axis=1) / 3600
        coverage = held.reshape(3, 900).mean(axis=1)
        np.testing.assert_allclose(m.energy_mwh[i], energy, atol=1e-9)
        np.testing.assert_allclose(m.coverage[i], coverage, atol=1e-12)


# --------------------------------------------------------------------------- comparison


def _frame(scheduled: list[list[float]], metered: list[list[float]], coverage: float = 1.0):
    """A frame from per-resource metered powers held over whole 15-min intervals."""
    samples = []
    for r, row in enumerate(metered):
        for c, p in enumerate(row):
            samples.append(at(15 * c, p, f"r{r}"))
    m = metered_energy(samples, grid(len(metered[0])), max_gap=QH * coverage)
    return compare(np.asarray(scheduled, dtype=float), m)


def test_compare_rows_and_vpp_totals() -> None:
    f = _frame([[1.0, 2.0], [3.0, 0.0]], [[1.5, 2.0], [2.0, 0.5]])
    assert f.subjects == ("r0", "r1", VPP)
    np.testing.assert_allclose(f.scheduled_mw[2], [4.0, 2.0])
    np.testing.assert_allclose(f.metered_mw[2], [3.5, 2.5])
    np.testing.assert_allclose(f.deviation_mw, [[0.5, 0.0], [-1.0, 0.5], [-0.5, 0.5]])
    np.testing.assert_allclose(f.deviation_mwh, f.deviation_mw / 4)
    assert math.isnan(f.relative_deviation[1, 1])  # nothing scheduled
    assert f.relative_deviation[2, 0] == pytest.approx(-0.125)
    table = f.to_frame()
    assert len(table) == 6
    vpp = table[table.subject == VPP].iloc[0]
    assert vpp.scheduled_mwh == pytest.approx(1.0)
    assert vpp.metered_mwh == pytest.approx(0.875)


def test_compare_with_a_vpp_schedule_only() -> None:
    m = metered_energy([at(0, 1.0, "a"), at(0, 2.0, "b")], grid(1), max_gap=QH)
    f = compare(np.array([2.5]), m)
    assert np.isnan(f.scheduled_mw[:2]).all()
    assert f.deviation_mw[f.row(VPP), 0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shape"):
        compare(np.zeros((3, 1)), m)
    with pytest.raises(KeyError):
        f.row("nope")


# --------------------------------------------------------------------------- alerts

LEVELS = {"warning": SeverityLevel(0.2, 10.0), "critical": SeverityLevel(1.0, 50.0)}


def test_alert_levels_need_absolute_and_relative_excess() -> None:
    # r0: 0.3 MW over 10 MW is 3 %: below the relative warning level.
    # r1: 0.3 MW over 1 MW: warning.  r2: 1.2 MW over 2 MW (60 %): critical.
    f = _frame([[10.0], [1.0], [2.0]], [[10.3], [1.3], [3.2]])
    found = {(a.subject, a.severity) for a in alerts(f, DeviationThresholds(**LEVELS))}
    assert found == {("r1", Severity.WARNING), ("r2", Severity.CRITICAL), (VPP, Severity.WARNING)}


def test_tolerance_band_counts_as_on_schedule() -> None:
    f = _frame([[1.0]], [[1.25]])
    assert alerts(f, DeviationThresholds(**LEVELS, tolerance_pct=20.0))  # band 0.2 MW
    assert not alerts(f, DeviationThresholds(**LEVELS, tolerance_pct=25.0))  # band 0.25 MW
    assert not alerts(f, DeviationThresholds(**LEVELS, tolerance_mw=0.3))


def test_consecutive_intervals_raise_one_alert_per_streak() -> None:
    # deviation +0.5 MW on 1 MW in intervals 0-2, none in 3, again in 4-5
    f = _frame([[1.0] * 6], [[1.5, 1.5, 1.5, 1.0, 1.5, 1.5]])
    th = DeviationThresholds(**LEVELS, consecutive=2)
    got = [
        (a.subject, a.interval_start, a.run_intervals) for a in alerts(f, th) if a.subject != VPP
    ]
    assert got == [("r0", T0 + QH, 2), ("r0", T0 + 5 * QH, 2)]
    msg = alerts(f, th)[0].message
    assert "1.500 MW" in msg and "+0.500 MW" in msg and "+0.1250 MWh" in msg and "+50.0%" in msg


def test_critical_needs_its_own_streak() -> None:
    f = _frame([[1.0] * 3], [[1.5, 2.5, 2.5]])  # warning, critical, critical
    th = DeviationThresholds(**LEVELS, consecutive=2)
    got = [(a.interval_start, a.severity) for a in alerts(f, th) if a.subject == "r0"]
    assert got == [(T0 + QH, Severity.WARNING), (T0 + 2 * QH, Severity.CRITICAL)]


def test_low_coverage_is_a_data_quality_alert_not_a_deviation() -> None:
    # held for 6 of 15 minutes: 40 % coverage, the metered average far off schedule
    f = _frame([[1.0, 1.0]], [[5.0, 5.0]], coverage=0.4)
    found = alerts(f, DeviationThresholds(**LEVELS, min_coverage=0.8))
    assert {a.kind for a in found} == {AlertKind.DATA_QUALITY}
    assert [(a.subject, a.interval_start) for a in found] == [("r0", T0), (VPP, T0)]
    assert "40%" in found[0].message
    # with a lower minimum the same intervals are judged
    judged = alerts(f, DeviationThresholds(**LEVELS, min_coverage=0.3))
    assert {a.kind for a in judged} == {AlertKind.DEVIATION}


def test_a_poorly_metered_interval_breaks_the_streak() -> None:
    th = DeviationThresholds(**LEVELS, consecutive=2)
    full = metered_energy([at(0, 2.0), at(15, 2.0), at(30, 2.0)], grid(3), max_gap=QH)
    first = alerts(compare(np.ones((1, 3)), full), th)[0]
    assert (first.subject, first.interval_start, first.severity) == (
        "a",
        T0 + QH,
        Severity.CRITICAL,
    )
    # the 10:15 reading is followed by a missing one at 10:18: 20 % coverage
    holed = [at(0, 2.0), at(15, 2.0), at(18, math.nan), at(30, 2.0)]
    m = metered_energy(holed, grid(3), max_gap=QH)
    found = [(a.kind, a.interval_start) for a in alerts(compare(np.ones((1, 3)), m), th)]
    assert found == [(AlertKind.DATA_QUALITY, T0 + QH), (AlertKind.DATA_QUALITY, T0 + QH)]


def test_threshold_validation() -> None:
    with pytest.raises(ValueError, match="consecutive"):
        DeviationThresholds(consecutive=0)
    with pytest.raises(ValueError, match="critical"):
        DeviationThresholds(warning=SeverityLevel(1.0, 5.0), critical=SeverityLevel(0.5, 20.0))


# --------------------------------------------------------------------------- live estimate


def test_live_estimate_projects_the_interval_and_the_power_to_cancel() -> None:
    now = T0 + timedelta(minutes=6)
    samples = [at(-1, 2.0), at(3, 1.0), at(5, 1.0), at(0, 1.0, "b"), at(7, 9.0)]  # 10:07 unseen
    live = live_estimate(samples, T0, QH, now, np.array([2.0, 1.0]), max_gap=GAP)
    assert live.elapsed == pytest.approx(0.4)
    assert live.remaining_h == pytest.approx(0.15)
    # a: 2 MW for 3 min, 1 MW for 3 min -> 0.15 MWh; held at 1 MW for 9 more minutes
    np.testing.assert_allclose(live.delivered_mwh, [9 / 60, 5 / 60 * 6 / 5])
    np.testing.assert_allclose(live.current_mw, [1.0, 1.0])
    np.testing.assert_allclose(live.coverage, [1.0, 5 / 6])
    np.testing.assert_allclose(live.projected_mwh, [9 / 60 + 0.15, 0.1 + 0.15])
    assert live.vpp_scheduled_mwh == pytest.approx(0.75)
    assert live.vpp_deviation_mwh == pytest.approx(0.55 - 0.75)
    # cancelling 0.2 MWh in 9 minutes takes 4/3 MW more
    assert live.vpp_to_cancel_mw == pytest.approx(0.2 / 0.15)


def test_live_estimate_hourly_with_a_vpp_schedule() -> None:
    now = T0 + timedelta(minutes=30)
    live = live_estimate([at(0, 2.0)], T0, timedelta(hours=1), now, 3.0, max_gap=GAP)
    # metered 5 of 30 minutes at 2 MW: the elapsed half-hour is estimated at 2 MW; the latest
    # sample is too old to be "current", so the average so far is held
    assert live.delivered_mwh[0] == pytest.approx(1.0)
    assert live.coverage[0] == pytest.approx(1 / 6)
    assert live.vpp_projected_mwh == pytest.approx(2.0)
    assert live.vpp_to_cancel_mw == pytest.approx(2.0)
    assert math.isnan(live.scheduled_mwh[0])
    with pytest.raises(ValueError, match="outside"):
        live_estimate([], T0, QH, T0 + timedelta(hours=1), 1.0)
