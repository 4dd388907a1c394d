"""Conflict detection (pure): over-allocation intervals against a brute-force day count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.vpp.conflicts import over_allocations
from openvpp.vpp.model import Member

DAY0 = datetime(2027, 1, 1, tzinfo=UTC)
HORIZON_DAYS = 30

members_strategy = st.lists(
    st.tuples(
        st.sampled_from(["r1", "r2"]),
        st.sampled_from(["v1", "v2", "v3"]),
        st.integers(1, 100),  # share %
        st.integers(0, HORIZON_DAYS - 1),  # from day
        st.one_of(st.none(), st.integers(1, HORIZON_DAYS)),  # length in days, None: open
    ),
    max_size=8,
)


def member(i: int, rid: str, vpp: str, share: int, start: int, days: int | None) -> Member:
    since = DAY0 + timedelta(days=start)
    until = None if days is None else since + timedelta(days=days)
    return Member(f"m{i}", vpp, rid, Decimal(share), since, until, DAY0, DAY0)


@settings(max_examples=150, deadline=None)
@given(members_strategy)
def test_reported_intervals_are_exactly_the_over_allocated_days(
    spec: list[tuple[str, str, int, int, int | None]],
) -> None:
    members = [member(i, *s) for i, s in enumerate(spec)]
    found = over_allocations(members)
    for rid in ("r1", "r2"):
        for d in range(HORIZON_DAYS + 2):  # past every boundary too
            at = DAY0 + timedelta(days=d, hours=12)
            total = sum(m.share_pct for m in members if m.resource_id == rid and m.active(at))
            flagged = [
                c for c in found if c.resource_ids == (rid,) and c.start <= at
                and (c.end is None or at < c.end)
            ]  # fmt: skip
            assert (total > 100) == bool(flagged), (rid, d, total)
            if flagged:
                assert Decimal(flagged[0].detail["total_share_pct"]) == total


def test_exactly_one_hundred_percent_is_allowed() -> None:
    members = [member(0, "r1", "v1", 60, 0, None), member(1, "r1", "v2", 40, 0, None)]
    assert over_allocations(members) == []
