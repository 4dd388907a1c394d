"""How the lookup of stored telemetry groups resources into shared time ranges (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from openvpp.store.telemetry_repo import _LOOKUP_SLACK, _shared_ranges

T0 = datetime(2026, 12, 7, tzinfo=UTC)
TIMES = st.lists(st.integers(0, 60 * 24 * 40).map(lambda m: T0 + timedelta(minutes=m)), min_size=1)


@given(st.dictionaries(st.text("abcdef", min_size=1, max_size=3), TIMES, min_size=1))
def test_every_point_is_read_within_slack_of_its_resources_own_times(
    by_resource: dict[str, list[datetime]],
) -> None:
    groups = _shared_ranges(by_resource)
    for rid, times in by_resource.items():
        for ts in times:  # each point is in the range of a group that names its resource
            assert any(rid in ids and lo <= ts <= hi for ids, lo, hi in groups)
    for ids, lo, hi in groups:
        assert len(ids) == len(set(ids))  # one piece of a resource per group at most
        for rid in ids:
            inside = [ts for ts in by_resource[rid] if lo <= ts <= hi]
            assert inside, (rid, lo, hi)
            assert (hi - lo) - (max(inside) - min(inside)) <= _LOOKUP_SLACK


def test_a_live_feed_shares_one_range_and_a_back_fill_gets_its_own() -> None:
    live = {f"r{i}": [T0 - timedelta(seconds=s) for s in (0, 10, 20)] for i in range(50)}
    assert len(_shared_ranges(live)) == 1
    back = {**live, "old": [T0 - timedelta(days=30, minutes=m) for m in range(60)]}
    groups = _shared_ranges(back)
    assert [ids for ids, _, _ in groups] == [["old"], sorted(live)]
    both = {**live, "r0": [*live["r0"], T0 - timedelta(days=30)]}  # its own old and new times
    assert [ids for ids, _, _ in _shared_ranges(both)] == [["r0"], sorted(live)]
    meters = {f"m{i}": [T0 - timedelta(minutes=15 * k) for k in range(96)] for i in range(20)}
    assert len(_shared_ranges(meters)) == 1  # a day of 15-minute readings: one range
