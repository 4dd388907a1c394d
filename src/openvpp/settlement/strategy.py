"""How an automatic bidding strategy did: each decision's expected revenue, the settled
revenue, and the perfect-foresight optimum of the same flexibility at the realised prices
(pure; HiGHS through :func:`openvpp.optimization.schedule.optimize_schedule`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from openvpp.optimization.schedule import ScheduleMarket, optimize_schedule
from openvpp.optimization.units import FlexUnit

__all__ = ["ENVELOPE", "perfect_foresight_value"]

ENVELOPE = (
    "baseline_mw",
    "p_min_mw",
    "p_max_mw",
    "e_min_mwh",
    "e_max_mwh",
    "ramp_up_mw",
    "ramp_down_mw",
)
"""The arrays of a recorded flexibility envelope (a decision's ``inputs["flexibility"]``)."""

_UNBOUNDED = {"p_min_mw": -np.inf, "e_min_mwh": -np.inf}  # None in the record: no bound


def _array(record: Mapping[str, Any], key: str) -> np.ndarray:
    fill = _UNBOUNDED.get(key, np.inf)
    return np.array([fill if v is None else float(v) for v in record[key]], dtype=np.float64)


def perfect_foresight_value(
    flexibility: Mapping[str, Any], prices: ArrayLike, dt_h: float
) -> float | None:
    """The revenue [currency] of the optimal change from the baseline of the recorded
    envelope, had the prices [currency/MWh per interval] been known: ``sum((p* - baseline) x
    price) x dt``. ``None`` when the record lacks the whole envelope (decisions recorded
    before it was kept) or its length differs from the prices'."""
    if any(not isinstance(flexibility.get(k), list) for k in ENVELOPE):
        return None
    price = np.asarray(prices, dtype=np.float64)
    a = {k: _array(flexibility, k) for k in ENVELOPE}
    if any(v.shape != price.shape for v in a.values()):
        return None
    unit = FlexUnit(
        baseline_mw=a["baseline_mw"],
        p_min_mw=a["p_min_mw"],
        p_max_mw=a["p_max_mw"],
        e_min_mwh=a["e_min_mwh"],
        e_max_mwh=a["e_max_mwh"],
        ramp_up_mw=a["ramp_up_mw"],
        ramp_down_mw=a["ramp_down_mw"],
    )
    result = optimize_schedule([unit], ScheduleMarket(price, dt_h))
    change = np.asarray(result.total_mw, dtype=np.float64) - a["baseline_mw"]
    return float((change * price).sum() * dt_h)
