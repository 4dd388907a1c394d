"""Aggregation: the envelope of a union is the sum of the envelopes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from openvpp.aggregation.envelope import Envelope, aggregate


@given(n=st.integers(2, 12), t=st.integers(1, 48), data=st.data())
def test_union_equals_sum_of_parts(n: int, t: int, data: st.DataObject) -> None:
    lo = data.draw(arrays(np.float64, (n, t), elements=st.floats(-10, 0)))
    hi = lo + data.draw(arrays(np.float64, (n, t), elements=st.floats(0, 10)))
    base = (lo + hi) / 2
    share = data.draw(arrays(np.float64, n, elements=st.floats(0, 1)))
    cut = data.draw(st.integers(1, n - 1))
    whole = aggregate(base, lo, hi, share)
    left = aggregate(base[:cut], lo[:cut], hi[:cut], share[:cut])
    right = aggregate(base[cut:], lo[cut:], hi[cut:], share[cut:])
    np.testing.assert_allclose(whole.p_min_mw, left.p_min_mw + right.p_min_mw, atol=1e-9)
    np.testing.assert_allclose(whole.p_max_mw, left.p_max_mw + right.p_max_mw, atol=1e-9)
    assert np.all(whole.up_mw >= -1e-9)
    assert np.all(whole.down_mw >= -1e-9)


def test_bad_envelopes_and_shares_are_refused() -> None:
    with pytest.raises(ValueError, match="p_min exceeds p_max"):
        Envelope(np.zeros(2), np.ones(2), np.zeros(2))
    with pytest.raises(ValueError, match="shares"):
        aggregate(np.zeros((1, 2)), np.zeros((1, 2)), np.ones((1, 2)), np.array([1.5]))
