"""The drift between kept exposure rows and their orders' sums (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from openvpp.trading.exposure_check import drift
from openvpp.trading.risk import Exposure, Interval

T0 = datetime(2026, 12, 7, tzinfo=UTC)
INTERVALS = st.builds(
    lambda v, h: (v, "EU-SIDC", "H", T0 + timedelta(hours=h)),
    st.sampled_from(["a", "b"]),
    st.integers(0, 3),
)
MW = st.integers(-50, 50).map(lambda n: Decimal(n) / 10)
EXPOSURES = st.builds(Exposure, MW, MW, MW)
ROWS = st.dictionaries(INTERVALS, EXPOSURES, max_size=6)


@given(ROWS, ROWS)
def test_the_corrections_make_every_row_its_sum(
    kept: dict[Interval, Exposure], summed: dict[Interval, Exposure]
) -> None:
    found = drift(kept, summed)
    assert [d.interval for d in found] == sorted(d.interval for d in found)
    repaired = dict(kept)
    for d in found:
        repaired[d.interval] = repaired.get(d.interval, Exposure()) + d.correction
    zero = Exposure()
    for key in kept.keys() | summed.keys():
        assert repaired.get(key, zero) == summed.get(key, zero)
        assert (key in {d.interval for d in found}) is (
            kept.get(key, zero) != summed.get(key, zero)
        )
    assert drift(summed, summed) == []
