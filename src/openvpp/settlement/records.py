"""What a settlement run stores: the run and its interval details (VPP and resources)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "AMOUNT_COLUMNS",
    "VPP_ROW",
    "DuplicateRun",
    "IntervalDetails",
    "RunFilter",
    "SettlementRun",
]

VPP_ROW = ""
"""``resource_id`` of the VPP's own interval rows."""

AMOUNT_COLUMNS = (
    "day_ahead",
    "intraday",
    "imbalance",
    "contract_for_difference",
    "deviation_penalty",
    "response_payment",
    "under_delivery_penalty",
    "fees",
    "total",
)
"""Amount columns of an interval row [minor units]; ``fees`` sums the ``fee:<code>`` lines."""


class DuplicateRun(Exception):
    """A concurrent calculation stored the same version of the day's run first."""


@dataclass(frozen=True, slots=True)
class SettlementRun:
    """One version of the settlement of a VPP in a market on a local day.

    totals : line -> amount [minor units]; total : their sum; intervals : settlement intervals
    of the day (92, 96 or 100 quarter-hours); resources : resources with details;
    estimated_intervals : VPP intervals without a meter reading, settled at their schedule;
    inputs : the sources and parameters the run read; prices : the prices it applied per
    interval [ticks of ``engine.PRICE_TICK``] (``day_ahead``, ``real_time``, and
    ``real_time_short`` under dual pricing); superseded_by : the version that
    replaced it (a rerun on changed inputs); checked_at : the latest calculation that found
    the same inputs and so left this version in place (None: none since it was stored).
    """

    id: str
    organization_id: str
    vpp_id: str
    market: str
    area: str
    day: date
    version: int
    input_hash: str
    currency: str
    minor_unit: Decimal
    energy_step_mwh: Decimal
    intervals: int
    resources: int
    estimated_intervals: int
    totals: dict[str, int]
    total: int
    inputs: dict[str, Any]
    prices: dict[str, list[int]]
    superseded_by: str | None
    created_at: datetime
    created_by: str | None
    checked_at: datetime | None = None


@dataclass(frozen=True)
class IntervalDetails:
    """Column-wise interval rows of a run: ``resource_ids[i]`` at ``starts[i]``; energies in
    energy steps, amounts in minor units per :data:`AMOUNT_COLUMNS`."""

    resource_ids: list[str]
    starts: list[datetime]
    minutes: NDArray[np.int64]
    scheduled: NDArray[np.int64]
    metered: NDArray[np.int64]
    estimated: NDArray[np.bool_]
    amounts: dict[str, NDArray[np.int64]]

    def __len__(self) -> int:
        return len(self.resource_ids)


@dataclass(frozen=True, slots=True)
class RunFilter:
    vpp_id: str | None = None
    market: str | None = None
    first_day: date | None = None
    last_day: date | None = None
    include_superseded: bool = False
