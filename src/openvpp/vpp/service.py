"""VPP definitions: VPPs, members, parameter history, grid nodes; conflicts enforced on write."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from openvpp.aggregation.engine import Aggregate, aggregate_vpp
from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock
from openvpp.core.errors import Conflict, NotFound, ValidationFailed
from openvpp.core.ids import new_id
from openvpp.identity.model import Principal
from openvpp.ports import UnitOfWork
from openvpp.vpp.conflicts import (
    ConflictItem,
    below_qualification,
    over_allocations,
    wrong_market_area,
)
from openvpp.vpp.model import (
    SHARE_QUANTUM,
    GridNode,
    Member,
    SettingsVersion,
    Vpp,
    VppSettings,
    settings_at,
)


@dataclass(frozen=True)
class MemberSpec:
    resource_id: str
    share_pct: Decimal
    valid_from: datetime | None = None  # None: from now
    valid_to: datetime | None = None


def find_conflicts(
    uow: UnitOfWork,
    organization_id: str,
    now: datetime,
    *,
    vpp_ids: Collection[str] | None = None,
    resource_ids: Collection[str] | None = None,
) -> list[ConflictItem]:
    """Every conflict in the organization, or those touching ``vpp_ids`` or ``resource_ids``
    when either is given."""
    members = uow.vpps.organization_members(organization_id)
    vpps = {v.id: v for v in uow.vpps.list_all(organization_id)}
    resources = {
        r.id: r
        for r in uow.resources.get_many(organization_id, sorted({m.resource_id for m in members}))
    }
    nodes = uow.grid_nodes.by_code(organization_id)
    history = uow.vpps.settings_history(sorted(vpps))
    members_of: dict[str, list[Member]] = defaultdict(list)
    for m in members:
        members_of[m.vpp_id].append(m)
    history_of: dict[str, list[SettingsVersion]] = defaultdict(list)
    for version in history:
        history_of[version.vpp_id].append(version)
    found = over_allocations(members)
    for vpp in vpps.values():
        own = members_of[vpp.id]
        found += wrong_market_area(vpp, own, resources, nodes)
        found += below_qualification(vpp, own, resources, history_of[vpp.id], now)
    if vpp_ids is None and resource_ids is None:
        return found
    vs, rs = set(vpp_ids or ()), set(resource_ids or ())
    return [c for c in found if vs & set(c.vpp_ids) or rs & set(c.resource_ids)]


def enforce_no_conflicts(
    uow: UnitOfWork,
    organization_id: str,
    now: datetime,
    *,
    vpp_ids: Collection[str] = (),
    resource_ids: Collection[str] = (),
) -> None:
    """Raise ``Conflict`` (409) listing every conflict the pending write leaves behind for the
    VPPs or resources it touched."""
    found = find_conflicts(uow, organization_id, now, vpp_ids=vpp_ids, resource_ids=resource_ids)
    if found:
        summary = "; ".join(c.message for c in found[:3])
        more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
        raise Conflict(
            f"the change would leave {len(found)} conflict(s): {summary}{more}",
            details=[c.as_dict() for c in found],
        )


def _check_period(valid_from: datetime, valid_to: datetime | None) -> None:
    if valid_to is not None and valid_to <= valid_from:
        raise ValidationFailed("valid_to must be after valid_from", field="valid_to")


def _check_share(share: Decimal) -> None:
    if not Decimal(0) < share <= Decimal(100):
        raise ValidationFailed("share_pct must lie in (0, 100] %", field="share_pct")


class VppService:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    # VPPs
    def create(
        self,
        uow: UnitOfWork,
        principal: Principal,
        *,
        name: str,
        market_area: str,
        description: str,
        settings: VppSettings | None,
        members: list[MemberSpec],
    ) -> Vpp:
        now = self._clock.now()
        vpp = Vpp(new_id(), principal.organization_id, name, market_area, description, now, now)
        with uow:
            uow.vpps.add(vpp)
            added = self._new_members(uow, principal, vpp.id, members, now)
            if settings is not None:
                uow.vpps.add_settings(
                    SettingsVersion(new_id(), vpp.id, now, settings, now, principal.user_id)
                )
            enforce_no_conflicts(
                uow,
                principal.organization_id,
                now,
                vpp_ids=[vpp.id],
                resource_ids=[m.resource_id for m in added],
            )
            uow.record(
                AuditEvent(
                    "vpp.create",
                    "vpp",
                    vpp.id,
                    after={
                        **vpp.audit_view(),
                        "members": [m.audit_view() for m in added],
                        "settings": settings.model_dump() if settings else None,
                    },
                )
            )
            uow.commit()
        return vpp

    def get(self, uow: UnitOfWork, principal: Principal, vpp_id: str) -> Vpp:
        with uow:
            return self.find(uow, principal, vpp_id)

    def list_vpps(
        self, uow: UnitOfWork, principal: Principal, limit: int, offset: int
    ) -> list[Vpp]:
        with uow:
            return uow.vpps.page(principal.organization_id, limit, offset)

    def update(
        self, uow: UnitOfWork, principal: Principal, vpp_id: str, changes: dict[str, Any]
    ) -> Vpp:
        """Apply ``changes`` (name, market_area, description)."""
        now = self._clock.now()
        with uow:
            current = self.find(uow, principal, vpp_id, for_update=True)
            fields = {k: changes[k] for k in ("name", "market_area", "description") if k in changes}
            updated = replace(current, **fields, updated_at=now)
            uow.vpps.update(updated)
            if updated.market_area != current.market_area:
                enforce_no_conflicts(uow, principal.organization_id, now, vpp_ids=[vpp_id])
            uow.record(
                AuditEvent(
                    "vpp.update",
                    "vpp",
                    vpp_id,
                    before=current.audit_view(),
                    after=updated.audit_view(),
                )
            )
            uow.commit()
        return updated

    def delete(self, uow: UnitOfWork, principal: Principal, vpp_id: str) -> None:
        with uow:
            current = self.find(uow, principal, vpp_id, for_update=True)
            members = uow.vpps.members(vpp_id)
            uow.vpps.delete(vpp_id)
            uow.record(
                AuditEvent(
                    "vpp.delete",
                    "vpp",
                    vpp_id,
                    before={
                        **current.audit_view(),
                        "members": [m.audit_view() for m in members],
                    },
                )
            )
            uow.commit()

    # Members
    def members(self, uow: UnitOfWork, principal: Principal, vpp_id: str) -> list[Member]:
        with uow:
            self.find(uow, principal, vpp_id)
            return uow.vpps.members(vpp_id)

    def add_member(
        self, uow: UnitOfWork, principal: Principal, vpp_id: str, spec: MemberSpec
    ) -> Member:
        now = self._clock.now()
        with uow:
            self.find(uow, principal, vpp_id, for_update=True)
            (member,) = self._new_members(uow, principal, vpp_id, [spec], now)
            enforce_no_conflicts(
                uow,
                principal.organization_id,
                now,
                vpp_ids=[vpp_id],
                resource_ids=[member.resource_id],
            )
            uow.record(AuditEvent("vpp.member.add", "vpp", vpp_id, after=member.audit_view()))
            uow.commit()
        return member

    def update_member(
        self,
        uow: UnitOfWork,
        principal: Principal,
        vpp_id: str,
        member_id: str,
        changes: dict[str, Any],
    ) -> Member:
        """Apply ``changes`` (share_pct, valid_from, valid_to)."""
        now = self._clock.now()
        with uow:
            self.find(uow, principal, vpp_id, for_update=True)
            current = self._find_member(uow, vpp_id, member_id)
            fields = {
                k: changes[k] for k in ("share_pct", "valid_from", "valid_to") if k in changes
            }
            updated = replace(current, **fields, updated_at=now)
            updated.share_pct = updated.share_pct.quantize(SHARE_QUANTUM)
            _check_share(updated.share_pct)
            _check_period(updated.valid_from, updated.valid_to)
            uow.vpps.update_member(updated)
            enforce_no_conflicts(
                uow,
                principal.organization_id,
                now,
                vpp_ids=[vpp_id],
                resource_ids=[updated.resource_id],
            )
            uow.record(
                AuditEvent(
                    "vpp.member.update",
                    "vpp",
                    vpp_id,
                    before=current.audit_view(),
                    after=updated.audit_view(),
                )
            )
            uow.commit()
        return updated

    def remove_member(
        self, uow: UnitOfWork, principal: Principal, vpp_id: str, member_id: str
    ) -> None:
        now = self._clock.now()
        with uow:
            self.find(uow, principal, vpp_id, for_update=True)
            current = self._find_member(uow, vpp_id, member_id)
            uow.vpps.delete_member(member_id)
            enforce_no_conflicts(uow, principal.organization_id, now, vpp_ids=[vpp_id])
            uow.record(AuditEvent("vpp.member.remove", "vpp", vpp_id, before=current.audit_view()))
            uow.commit()

    # Parameters
    def set_settings(
        self,
        uow: UnitOfWork,
        principal: Principal,
        vpp_id: str,
        settings: VppSettings,
        effective_from: datetime | None,
    ) -> SettingsVersion:
        """Record a new version of the VPP's parameters, in force from ``effective_from``
        (default now). History is never rewritten; a later version supersedes it."""
        now = self._clock.now()
        version = SettingsVersion(
            new_id(), vpp_id, effective_from or now, settings, now, principal.user_id
        )
        with uow:
            self.find(uow, principal, vpp_id, for_update=True)
            before = settings_at(uow.vpps.settings_history([vpp_id]), version.effective_from)
            uow.vpps.add_settings(version)
            enforce_no_conflicts(uow, principal.organization_id, now, vpp_ids=[vpp_id])
            uow.record(
                AuditEvent(
                    "vpp.parameters.set",
                    "vpp",
                    vpp_id,
                    before=before.model_dump(),
                    after={
                        **settings.model_dump(),
                        "effective_from": version.effective_from.isoformat(),
                    },
                )
            )
            uow.commit()
        return version

    def settings_history(
        self, uow: UnitOfWork, principal: Principal, vpp_id: str
    ) -> list[SettingsVersion]:
        with uow:
            self.find(uow, principal, vpp_id)
            return uow.vpps.settings_history([vpp_id])

    # Conflicts
    def conflicts(
        self, uow: UnitOfWork, principal: Principal, vpp_id: str | None = None
    ) -> list[ConflictItem]:
        with uow:
            if vpp_id is not None:
                self.find(uow, principal, vpp_id)
            return find_conflicts(
                uow,
                principal.organization_id,
                self._clock.now(),
                vpp_ids=None if vpp_id is None else [vpp_id],
            )

    # Grid nodes
    def add_node(
        self, uow: UnitOfWork, principal: Principal, *, code: str, market_area: str, name: str
    ) -> GridNode:
        node = GridNode(principal.organization_id, code, market_area, name, self._clock.now())
        with uow:
            if code in uow.grid_nodes.by_code(principal.organization_id):
                raise Conflict(f"grid node {code!r} already exists", field="code")
            uow.grid_nodes.add(node)
            uow.record(
                AuditEvent(
                    "grid_node.create",
                    "grid_node",
                    code,
                    after={"market_area": market_area, "name": name},
                )
            )
            uow.commit()
        return node

    def list_nodes(self, uow: UnitOfWork, principal: Principal) -> list[GridNode]:
        with uow:
            return uow.grid_nodes.all_of(principal.organization_id)

    def delete_node(self, uow: UnitOfWork, principal: Principal, code: str) -> None:
        now = self._clock.now()
        with uow:
            nodes = uow.grid_nodes.by_code(principal.organization_id)
            if code not in nodes:
                raise NotFound(f"grid node {code!r} not found", field="code")
            uow.grid_nodes.delete(principal.organization_id, code)
            vpp_ids = [v.id for v in uow.vpps.list_all(principal.organization_id)]
            enforce_no_conflicts(uow, principal.organization_id, now, vpp_ids=vpp_ids)
            uow.record(
                AuditEvent(
                    "grid_node.delete",
                    "grid_node",
                    code,
                    before={"market_area": nodes[code].market_area},
                )
            )
            uow.commit()

    # Helpers
    @staticmethod
    def find(
        uow: UnitOfWork, principal: Principal, vpp_id: str, *, for_update: bool = False
    ) -> Vpp:
        found = uow.vpps.get(principal.organization_id, vpp_id, for_update=for_update)
        if found is None:
            raise NotFound(f"VPP {vpp_id!r} not found", field="vpp_id")
        return found

    @staticmethod
    def _find_member(uow: UnitOfWork, vpp_id: str, member_id: str) -> Member:
        for member in uow.vpps.members(vpp_id):
            if member.id == member_id:
                return member
        raise NotFound(f"member {member_id!r} not found in VPP {vpp_id!r}", field="member_id")

    @staticmethod
    def _new_members(
        uow: UnitOfWork,
        principal: Principal,
        vpp_id: str,
        specs: list[MemberSpec],
        now: datetime,
    ) -> list[Member]:
        """Validate and add members; their resources are looked up in one query."""
        wanted = sorted({spec.resource_id for spec in specs})
        known = {r.id for r in uow.resources.get_many(principal.organization_id, wanted)}
        added = []
        for spec in specs:
            _check_share(spec.share_pct)
            valid_from = spec.valid_from or now
            _check_period(valid_from, spec.valid_to)
            if spec.resource_id not in known:
                raise NotFound(f"resource {spec.resource_id!r} not found", field="resource_id")
            share = spec.share_pct.quantize(SHARE_QUANTUM)
            member = Member(
                new_id(), vpp_id, spec.resource_id, share, valid_from, spec.valid_to, now, now
            )
            uow.vpps.add_member(member)
            added.append(member)
        return added


def aggregate(
    uow: UnitOfWork,
    principal: Principal,
    vpp_id: str,
    index: pd.DatetimeIndex,
    *,
    tz: str,
    now: datetime,
) -> Aggregate:
    """The VPP's flexibility over ``index`` from the current state of its members, read in
    one unit of work and computed after it (nothing is cached, so every change of a member's
    status, telemetry, parameters or share shows in the next call)."""
    with uow:
        VppService.find(uow, principal, vpp_id)
        allocations, readings = uow.vpps.allocations(vpp_id)
    return aggregate_vpp(allocations, readings, index, tz=tz, now=now)
