"""Flexibility envelopes: per interval, the baseline and the power range of a resource or a
group, in [MW] with injection positive. The envelope of a union of resources is the sum of
their envelopes; aggregation is therefore a column sum over a (resources x intervals) stack.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Envelope:
    baseline_mw: FloatArray  # expected output without intervention
    p_min_mw: FloatArray  # lowest feasible injection
    p_max_mw: FloatArray  # highest feasible injection

    def __post_init__(self) -> None:
        shapes = {self.baseline_mw.shape, self.p_min_mw.shape, self.p_max_mw.shape}
        if len(shapes) != 1:
            raise ValueError("envelope arrays must share one shape")
        if np.any(self.p_min_mw > self.p_max_mw + 1e-9):
            raise ValueError("p_min exceeds p_max")

    @property
    def up_mw(self) -> FloatArray:
        """Upward flexibility: more injection than the baseline [MW]."""
        return np.asarray(self.p_max_mw - self.baseline_mw, dtype=np.float64)

    @property
    def down_mw(self) -> FloatArray:
        """Downward flexibility: less injection than the baseline [MW]."""
        return np.asarray(self.baseline_mw - self.p_min_mw, dtype=np.float64)


def aggregate(
    baseline_mw: FloatArray, p_min_mw: FloatArray, p_max_mw: FloatArray, share: FloatArray
) -> Envelope:
    """Sum a (resources x intervals) stack, each resource weighted by its allocated ``share``
    (0-1) of its capacity."""
    w = np.asarray(share, dtype=np.float64)[:, None]
    if np.any((w < 0) | (w > 1)):
        raise ValueError("shares must lie in [0, 1]")
    return Envelope(
        baseline_mw=(np.asarray(baseline_mw) * w).sum(axis=0),
        p_min_mw=(np.asarray(p_min_mw) * w).sum(axis=0),
        p_max_mw=(np.asarray(p_max_mw) * w).sum(axis=0),
    )
