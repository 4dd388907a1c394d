"""Revenue, cost and P&L of settled runs, grouped by time, VPP, market, resource or resource
type (pure, exact integer minor units; pandas for the grouping).

**Revenue** is what the markets paid for energy and response: ``day_ahead``, ``intraday``,
``contract_for_difference`` and ``response_payment`` (negative when energy was bought).
**Costs** are ``imbalance``, ``deviation_penalty``, ``under_delivery_penalty`` and fees.
**P&L** is their sum, the runs' total.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import pandas as pd

from openvpp.settlement import engine
from openvpp.settlement.records import SettlementRun

__all__ = ["GROUPS", "Group", "classify", "pnl_table", "run_lines"]

Group = Literal["day", "week", "month", "vpp", "market", "currency", "resource", "resource_type"]
GROUPS: tuple[str, ...] = (
    "day", "week", "month", "vpp", "market", "currency", "resource", "resource_type",
)  # fmt: skip

_REVENUE = frozenset({engine.DAY_AHEAD, engine.INTRADAY, engine.CFD, engine.RESPONSE})


def classify(line: str) -> Literal["revenue", "costs"]:
    """Whether a settlement line is revenue or a cost."""
    return "revenue" if line in _REVENUE else "costs"


def run_lines(runs: Iterable[SettlementRun]) -> pd.DataFrame:
    """One row per run and line: ``run_id, vpp, market, currency, day, line, kind, amount``
    [minor units]."""
    rows = [
        (r.id, r.vpp_id, r.market, r.currency, r.day, line, classify(line), amount)
        for r in runs
        for line, amount in r.totals.items()
    ]
    columns = ["run_id", "vpp", "market", "currency", "day", "line", "kind", "amount"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["amount"] = frame["amount"].astype("int64")
    return frame


def _period(days: pd.Series, group: str) -> pd.Series:
    stamps = pd.to_datetime(days)
    if group == "week":  # ISO week, labelled by its Monday
        return (stamps - pd.to_timedelta(stamps.dt.weekday, unit="D")).dt.date.astype(str)
    if group == "month":
        return stamps.dt.strftime("%Y-%m")
    return stamps.dt.date.astype(str)


def pnl_table(lines: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Revenue, costs and P&L [minor units] per group of ``by`` (each one of :data:`GROUPS`;
    ``currency`` is always among the keys: amounts of different currencies never add up).

    ``lines`` has the columns of :func:`run_lines`, and ``resource`` / ``resource_type``
    when grouped by them."""
    unknown = [g for g in by if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown grouping {unknown[0]!r}; one of {list(GROUPS)}")
    keys = list(dict.fromkeys([*by, "currency"]))
    frame = lines.copy()
    for g in ("day", "week", "month"):
        if g in keys:
            frame[g] = _period(frame["day"], g)
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "revenue", "costs", "pnl"])
    wide = frame.pivot_table(
        index=keys, columns="kind", values="amount", aggfunc="sum", fill_value=0
    )
    for kind in ("revenue", "costs"):
        if kind not in wide.columns:
            wide[kind] = 0
    out = wide[["revenue", "costs"]].astype("int64").reset_index()
    out["pnl"] = out["revenue"] + out["costs"]
    out.columns.name = None
    return out.sort_values(keys, kind="stable").reset_index(drop=True)
