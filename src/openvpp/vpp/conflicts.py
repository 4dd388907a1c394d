"""Conflict detection (pure): over-allocated resources, resources outside a VPP's market area,
VPPs below a market's qualification minimum. Each conflict names the resources, the VPPs and
the exact interval ``[start, end)`` (``end`` ``None``: open-ended) in which it holds."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from openvpp.resources.model import Resource
from openvpp.vpp.model import GridNode, Member, SettingsVersion, Vpp, settings_at
from openvpp.vpp.qualification import counted_mw, qualifications

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class ConflictItem:
    kind: str  # over_allocation | wrong_market_area | below_qualification
    message: str
    resource_ids: tuple[str, ...]
    vpp_ids: tuple[str, ...]
    start: datetime
    end: datetime | None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "resource_ids": list(self.resource_ids),
            "vpp_ids": list(self.vpp_ids),
            "start": self.start.isoformat(),
            "end": self.end.isoformat() if self.end else None,
            **self.detail,
        }


def _segments(bounds: Iterable[datetime]) -> list[tuple[datetime, datetime | None]]:
    """Consecutive ``[a, b)`` between sorted distinct boundaries; the last one open-ended."""
    points = sorted(set(bounds))
    return [(a, points[i + 1] if i + 1 < len(points) else None) for i, a in enumerate(points)]


def over_allocations(members: Sequence[Member]) -> list[ConflictItem]:
    """Resources whose shares across VPPs add up to more than 100 % in some period."""
    by_resource: dict[str, list[Member]] = defaultdict(list)
    for m in members:
        by_resource[m.resource_id].append(m)
    found: list[ConflictItem] = []
    for rid, ms in sorted(by_resource.items()):
        if sum((m.share_pct for m in ms), Decimal(0)) <= HUNDRED:
            continue  # cannot exceed 100 % even if all overlap
        bounds = [m.valid_from for m in ms] + [m.valid_to for m in ms if m.valid_to]
        runs: list[tuple[datetime, datetime | None, Decimal, tuple[str, ...]]] = []
        for start, end in _segments(bounds):
            # segments never straddle a boundary: validity at the start decides
            active = [m for m in ms if m.active(start)]
            total = sum((m.share_pct for m in active), Decimal(0))
            if total <= HUNDRED:
                continue
            vpps = tuple(sorted({m.vpp_id for m in active}))
            if runs and runs[-1][1] == start and runs[-1][3] == vpps and runs[-1][2] == total:
                runs[-1] = (runs[-1][0], end, total, vpps)
            else:
                runs.append((start, end, total, vpps))
        for start, end, total, vpps in runs:
            found.append(
                ConflictItem(
                    "over_allocation",
                    f"resource {rid} is allocated {total}% across {len(vpps)} VPP(s)",
                    (rid,),
                    vpps,
                    start,
                    end,
                    {"total_share_pct": str(total)},
                )
            )
    return found


def wrong_market_area(
    vpp: Vpp,
    members: Sequence[Member],
    resources: dict[str, Resource],
    nodes: dict[str, GridNode],
) -> list[ConflictItem]:
    """Members connected at a grid node that is unregistered or lies in another market area."""
    found: list[ConflictItem] = []
    for m in members:
        resource = resources[m.resource_id]
        node = nodes.get(resource.grid_node)
        if node is not None and node.market_area == vpp.market_area:
            continue
        where = "an unregistered node" if node is None else f"market area {node.market_area}"
        found.append(
            ConflictItem(
                "wrong_market_area",
                f"resource {resource.id} is connected at grid node {resource.grid_node!r} in "
                f"{where}, not in the VPP's market area {vpp.market_area}",
                (resource.id,),
                (vpp.id,),
                m.valid_from,
                m.valid_to,
                {"grid_node": resource.grid_node, "vpp_market_area": vpp.market_area},
            )
        )
    return found


def below_qualification(
    vpp: Vpp,
    members: Sequence[Member],
    resources: dict[str, Resource],
    history: Sequence[SettingsVersion],
    now: datetime,
) -> list[ConflictItem]:
    """Periods from ``now`` on in which the VPP is registered for a market whose minimum its
    members (weighted by their shares) do not reach."""
    bounds = [now]
    bounds += [v.effective_from for v in history if v.effective_from > now]
    bounds += [m.valid_from for m in members if m.valid_from > now]
    bounds += [m.valid_to for m in members if m.valid_to and m.valid_to > now]
    found: list[ConflictItem] = []
    minimums = qualifications()
    for start, end in _segments(bounds):
        settings = settings_at(list(history), start)
        active = [m for m in members if m.active(start)]
        for market in settings.markets:
            q = minimums.get(market)
            if q is None:  # a market without a minimum
                continue
            total = sum(
                counted_mw(resources[m.resource_id], q) * float(m.share_pct) / 100 for m in active
            )
            if total + 1e-9 >= q.min_mw:
                continue
            last = found[-1] if found else None
            if (
                last is not None
                and last.end == start
                and last.detail["market"] == market
                and set(last.resource_ids) == {m.resource_id for m in active}
            ):
                found[-1] = replace(last, end=end)
                continue
            found.append(
                ConflictItem(
                    "below_qualification",
                    f"VPP {vpp.name!r} counts {total:.3f} MW of {q.basis} for {market}, "
                    f"below its minimum of {q.min_mw:g} MW"
                    + (f" sustained for {q.min_duration_h:g} h" if q.min_duration_h else ""),
                    tuple(sorted({m.resource_id for m in active})),
                    (vpp.id,),
                    start,
                    end,
                    {
                        "market": market,
                        "counted_mw": round(total, 6),
                        "min_mw": q.min_mw,
                        "min_duration_h": q.min_duration_h,
                    },
                )
            )
    return found
