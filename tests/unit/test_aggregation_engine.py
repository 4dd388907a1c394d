"""The aggregation engine: DST-correct horizons, per-type stacks, shares, availability."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.aggregation.engine import Allocation, aggregate_vpp, horizon, local_days
from openvpp.resources.model import Resource, ResourceStatus
from openvpp.resources.telemetry import TelemetryPoint
from openvpp.resources.templates import BUILTIN, ResourceType

NOW = datetime(2026, 6, 21, 0, 0, tzinfo=UTC)


def res(
    kind: ResourceType, rid: str, status: ResourceStatus = ResourceStatus.ONLINE, **params: Any
) -> Resource:
    version = max(v for k, v in BUILTIN if k is kind)
    full = BUILTIN[(kind, version)].model_validate(params).model_dump()
    return Resource(rid, "org", rid, kind, version, full, "N", 48.1, 11.6, status, NOW, NOW, NOW)


SINCE = datetime(2026, 1, 1, tzinfo=UTC)


def alloc(
    r: Resource, share: float = 100, start: datetime = SINCE, end: datetime | None = None
) -> Allocation:
    return Allocation.of(r, Decimal(str(share)), start, end)


def day(resolution: int = 15, d: date = date(2026, 6, 21), tz: str = "Europe/Berlin") -> Any:
    return horizon(*local_days(d, 1, tz), resolution)


@pytest.mark.parametrize(
    ("d", "n"), [(date(2026, 3, 29), 92), (date(2026, 10, 25), 100), (date(2026, 6, 21), 96)]
)
def test_local_days_are_dst_correct(d: date, n: int) -> None:
    assert len(day(15, d)) == n
    assert len(day(60, d)) == n // 4


def test_horizon_refuses_bad_grids() -> None:
    with pytest.raises(ValueError, match="grid"):
        horizon(NOW.replace(minute=7), NOW.replace(hour=5), 15)
    with pytest.raises(ValueError, match="resolution"):
        horizon(NOW, NOW.replace(hour=5), 30)
    with pytest.raises(ValueError, match="after"):
        horizon(NOW, NOW, 15)


def test_battery_power_and_energy_bounds() -> None:
    b = res(
        ResourceType.BATTERY,
        "b",
        energy_mwh=2.0,
        p_charge_max_mw=1.0,
        p_discharge_max_mw=1.0,
        eta_charge=1.0,
        eta_discharge=1.0,
        soc_min=0.0,
        soc_max=1.0,
    )
    reading = {"b": TelemetryPoint("b", NOW, 0.0, 0.25)}  # 0.5 MWh stored
    idx = horizon(NOW, NOW.replace(hour=4), 60)
    agg = aggregate_vpp([alloc(b)], reading, idx, tz="UTC", now=NOW)
    t = agg.total
    assert np.allclose(t.p_min_mw, -1.0) and np.allclose(t.p_max_mw, 1.0)
    assert np.allclose(t.e_max_mwh, [0.5, 0.5, 0.5, 0.5])  # it can give what it holds
    assert np.allclose(t.e_min_mwh, [-1.0, -1.5, -1.5, -1.5])  # and take what fits
    assert np.allclose(t.baseline_mw, 0.0)


def test_pv_follows_the_sun_and_loads_their_profile() -> None:
    pv = res(ResourceType.PV, "pv", dc_capacity_mw=2.0, ac_capacity_mw=1.5)
    load = res(ResourceType.CURTAILABLE_LOAD, "l", peak_mw=1.0, max_curtailment_fraction=0.5)
    idx = day(60)
    agg = aggregate_vpp([alloc(pv), alloc(load)], {}, idx, tz="Europe/Berlin", now=NOW)
    pv_part = agg.by_type[ResourceType.PV]
    assert pv_part.baseline_mw.min() >= 0.0
    assert pv_part.baseline_mw[0] == 0.0  # local midnight
    assert 1.0 < pv_part.baseline_mw.max() <= 1.5  # clear sky at midsummer noon, AC-limited
    load_part = agg.by_type[ResourceType.CURTAILABLE_LOAD]
    assert np.all(load_part.baseline_mw < 0) and np.all(load_part.baseline_mw >= -1.0)
    assert np.allclose(load_part.p_max_mw, load_part.baseline_mw * 0.5)


def test_shares_validity_and_availability() -> None:
    b = res(ResourceType.BATTERY, "b", p_charge_max_mw=2.0, p_discharge_max_mw=2.0)
    idx = horizon(NOW, NOW.replace(hour=4), 60)
    half = aggregate_vpp([alloc(b, 50)], {}, idx, tz="UTC", now=NOW).total
    assert np.allclose(half.p_max_mw, 1.0)
    late = aggregate_vpp([alloc(b, 100, NOW.replace(hour=2))], {}, idx, tz="UTC", now=NOW).total
    assert np.allclose(late.p_max_mw, [0, 0, 2, 2])
    for status in (ResourceStatus.FAULT, ResourceStatus.MAINTENANCE):
        out = aggregate_vpp(
            [alloc(res(ResourceType.BATTERY, "b", status))], {}, idx, tz="UTC", now=NOW
        )
        assert np.allclose(out.total.p_max_mw, 0) and np.allclose(out.total.p_min_mw, 0)
    wind = res(ResourceType.WIND, "w", ResourceStatus.OFFLINE)
    reading = {"w": TelemetryPoint("w", NOW, 2.0)}
    off = aggregate_vpp([alloc(wind)], reading, idx, tz="UTC", now=NOW).total
    assert np.allclose(off.baseline_mw, 2.0 * 1)  # still produces...
    assert np.allclose(off.p_min_mw, off.baseline_mw)  # ...but cannot be curtailed
    assert np.allclose(off.ramp_up_mw, 0)


def test_genset_ramps_and_every_type_runs() -> None:
    kinds = {
        ResourceType.PV: {},
        ResourceType.WIND: {},
        ResourceType.BATTERY: {},
        ResourceType.CURTAILABLE_LOAD: {},
        ResourceType.SHIFTABLE_LOAD: {},
        ResourceType.EV_FLEET: {},
        ResourceType.GENSET: {"ramp_mw_per_min": 0.01},
        ResourceType.HEAT_PUMP: {},
    }
    members = [alloc(res(k, k.value, **p)) for k, p in kinds.items()]
    agg = aggregate_vpp(members, {}, day(15), tz="Europe/Berlin", now=NOW)
    assert set(agg.by_type) == set(kinds)
    t = agg.total
    assert np.all(t.p_min_mw <= t.baseline_mw + 1e-9)
    assert np.all(t.baseline_mw <= t.p_max_mw + 1e-9)
    assert np.all(t.e_min_mwh <= t.e_max_mwh + 1e-9)
    genset = agg.by_type[ResourceType.GENSET]
    assert genset.ramp_up_mw.max() == pytest.approx(0.01 * 15)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    ResourceType.BATTERY,
                    ResourceType.PV,
                    ResourceType.CURTAILABLE_LOAD,
                    ResourceType.EV_FLEET,
                ]
            ),
            st.integers(1, 100),
        ),
        min_size=2,
        max_size=8,
    )
)
def test_union_equals_sum_of_parts(spec: list[tuple[ResourceType, int]]) -> None:
    members = [alloc(res(k, f"r{i}"), share) for i, (k, share) in enumerate(spec)]
    idx = day(60)
    whole = aggregate_vpp(members, {}, idx, tz="Europe/Berlin", now=NOW).total
    cut = len(members) // 2
    a = aggregate_vpp(members[:cut], {}, idx, tz="Europe/Berlin", now=NOW).total
    b = aggregate_vpp(members[cut:], {}, idx, tz="Europe/Berlin", now=NOW).total
    for name in ("baseline_mw", "p_min_mw", "p_max_mw", "e_min_mwh", "e_max_mwh", "ramp_up_mw"):
        assert np.allclose(getattr(whole, name), getattr(a, name) + getattr(b, name)), name


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_weighted_sum_matches_the_naive_sum(n: int, t: int, seed: int) -> None:
    from openvpp.aggregation.engine import Flex

    rng = np.random.default_rng(seed)
    lo, hi = -rng.uniform(0, 2, (n, t)), rng.uniform(0, 2, (n, t))
    e_lo, e_hi = np.cumsum(lo, axis=1), np.cumsum(hi, axis=1)
    stack = Flex((lo + hi) / 2, lo, hi, e_lo, e_hi, hi - lo, hi - lo)
    w = rng.uniform(0, 1, (n, t))
    got = stack.weighted_sum(w)
    assert np.allclose(got.p_min_mw, (lo * w).sum(axis=0))
    steps = np.diff(e_hi, axis=1, prepend=0.0)
    assert np.allclose(got.e_max_mwh, np.cumsum((steps * w).sum(axis=0)))
    flat = rng.uniform(0, 1, n)
    one = stack.weighted_sum(flat)
    two = stack.weighted_sum(np.repeat(flat[:, None], t, axis=1))
    for name in ("baseline_mw", "e_min_mwh", "e_max_mwh", "ramp_down_mw"):
        assert np.allclose(getattr(one, name), getattr(two, name))
