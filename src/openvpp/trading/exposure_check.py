"""The exposure rows checked against the orders they sum, and repaired.

The position check reads one exposure row per VPP, market, product and delivery interval;
every write of orders keeps it current in the same transaction. Should a row ever differ
from what its orders add up to (a bug, a hand edit of the database, one table restored from
an older backup), the position limit would be checked against a wrong figure. The check
finds such intervals; the repair adds the difference to each.

Both are exact while trading goes on, without stopping it. The check reads the rows and the
orders in one snapshot, where every committed transaction has changed both alike, so the
difference it finds is the drift and nothing concurrent. The repair adds that difference
with the same additive upsert as every order write, which commutes with theirs; repairs of
one organization take its row lock first and read their snapshot after it, so that a second
repair sees the first one's correction and adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openvpp.audit.chain import AuditEvent
from openvpp.core.errors import NotFound
from openvpp.ports import UnitOfWork
from openvpp.trading.risk import Exposure, Interval

__all__ = ["ExposureDrift", "check_exposures", "drift", "repair_exposures"]


@dataclass(frozen=True, slots=True)
class ExposureDrift:
    """An interval whose ``kept`` row differs from what its orders sum to (``summed``)."""

    vpp_id: str
    market: str
    product: str
    delivery_start: datetime
    kept: Exposure
    summed: Exposure

    @property
    def interval(self) -> Interval:
        return (self.vpp_id, self.market, self.product, self.delivery_start)

    @property
    def correction(self) -> Exposure:
        """What the repair adds to the row."""
        return self.summed - self.kept


def drift(
    kept: Mapping[Interval, Exposure], summed: Mapping[Interval, Exposure]
) -> list[ExposureDrift]:
    """The intervals where ``kept`` and ``summed`` differ (one missing counts as zero), in
    interval order."""
    zero = Exposure()
    return [
        ExposureDrift(*key, kept.get(key, zero), summed.get(key, zero))
        for key in sorted(kept.keys() | summed.keys())
        if kept.get(key, zero) != summed.get(key, zero)
    ]


def check_exposures(snapshot: UnitOfWork, organization_id: str) -> list[ExposureDrift]:
    """The organization's drifted intervals. ``snapshot``: a read-only unit of work that sees
    one state across its statements (``Runtime.uow(readonly=True, snapshot=True)``)."""
    with snapshot:
        repo = snapshot.trading_orders
        return drift(repo.kept_exposures(organization_id), repo.summed_exposures(organization_id))


def repair_exposures(
    uow: UnitOfWork, snapshot: Callable[[], UnitOfWork], organization_id: str
) -> list[ExposureDrift]:
    """Add to each drifted row of the organization what it lacks, audited, and return what
    was found (nothing written when nothing drifted). ``snapshot`` makes the read-only
    snapshot unit the drift is found in, once ``uow`` holds the organization's lock."""
    with uow:
        if uow.organizations.get(organization_id, lock=True) is None:
            raise NotFound(f"organization {organization_id} not found")
        found = check_exposures(snapshot(), organization_id)
        if not found:
            return []
        uow.trading_orders.correct_exposures(
            organization_id, {d.interval: d.correction for d in found}
        )
        uow.record(
            AuditEvent(
                action="trading.exposures.repair",
                object_type="organization",
                object_id=organization_id,
                before={"exposures": {_name(d): _json(d.kept) for d in found}},
                after={"exposures": {_name(d): _json(d.summed) for d in found}},
                organization_id=organization_id,
            )
        )
        uow.commit()
    return found


def _name(d: ExposureDrift) -> str:
    return f"{d.vpp_id} {d.market} {d.product} {d.delivery_start.isoformat()}"


def _json(e: Exposure) -> dict[str, Any]:
    return {
        "net_filled_mw": str(e.net_filled),
        "open_buy_mw": str(e.open_buy),
        "open_sell_mw": str(e.open_sell),
    }
