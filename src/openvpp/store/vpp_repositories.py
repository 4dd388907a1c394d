"""Repositories of VPP definitions, grid nodes and the inputs of the aggregation engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from openvpp.aggregation.engine import Allocation, Unit
from openvpp.resources.model import ResourceStatus
from openvpp.resources.telemetry import TelemetryPoint
from openvpp.resources.templates import ResourceType
from openvpp.store import tables as t
from openvpp.store.repositories import _Repo
from openvpp.vpp.model import SHARE_QUANTUM, GridNode, Member, SettingsVersion, Vpp, VppSettings


def _member(row: Mapping[str, Any] | RowMapping) -> Member:
    return Member(**{**row, "share_pct": Decimal(row["share_pct"]).quantize(SHARE_QUANTUM)})


class VppRepo(_Repo):
    def add(self, vpp: Vpp) -> None:
        self._c.execute(t.vpps.insert().values(**asdict(vpp)))

    def update(self, vpp: Vpp) -> None:
        self._update_by_id(t.vpps, asdict(vpp))

    def delete(self, vpp_id: str) -> None:
        self._c.execute(t.vpp_members.delete().where(t.vpp_members.c.vpp_id == vpp_id))
        self._c.execute(t.vpp_parameters.delete().where(t.vpp_parameters.c.vpp_id == vpp_id))
        self._c.execute(t.vpps.delete().where(t.vpps.c.id == vpp_id))

    def get(self, organization_id: str, vpp_id: str, *, for_update: bool = False) -> Vpp | None:
        v = t.vpps
        query = v.select().where(v.c.id == vpp_id, v.c.organization_id == organization_id)
        row = self._first(query.with_for_update() if for_update else query)
        return Vpp(**row) if row else None

    def page(self, organization_id: str, limit: int, offset: int) -> list[Vpp]:
        v = t.vpps
        rows = self._c.execute(
            v.select()
            .where(v.c.organization_id == organization_id)
            .order_by(v.c.name, v.c.id)
            .limit(limit)
            .offset(offset)
        )
        return [Vpp(**r) for r in rows.mappings()]

    def list_all(self, organization_id: str) -> list[Vpp]:
        rows = self._c.execute(t.vpps.select().where(t.vpps.c.organization_id == organization_id))
        return [Vpp(**r) for r in rows.mappings()]

    # Members
    def add_member(self, member: Member) -> None:
        self._c.execute(t.vpp_members.insert().values(**asdict(member)))

    def update_member(self, member: Member) -> None:
        self._update_by_id(t.vpp_members, asdict(member))

    def delete_member(self, member_id: str) -> None:
        self._c.execute(t.vpp_members.delete().where(t.vpp_members.c.id == member_id))

    def members(self, vpp_id: str) -> list[Member]:
        m = t.vpp_members
        rows = self._c.execute(
            m.select().where(m.c.vpp_id == vpp_id).order_by(m.c.valid_from, m.c.id)
        )
        return [_member(r) for r in rows.mappings()]

    def vpp_ids_of(self, resource_id: str) -> set[str]:
        """The VPPs the resource is (or was, or will be) a member of."""
        m = t.vpp_members
        rows = self._c.execute(sa.select(m.c.vpp_id).where(m.c.resource_id == resource_id))
        return {row[0] for row in rows}

    def organization_members(self, organization_id: str) -> list[Member]:
        m, v = t.vpp_members, t.vpps
        rows = self._c.execute(
            sa.select(m)
            .join(v, v.c.id == m.c.vpp_id)
            .where(v.c.organization_id == organization_id)
            .order_by(m.c.resource_id, m.c.valid_from, m.c.id)
        )
        return [_member(r) for r in rows.mappings()]

    def allocations(self, vpp_id: str) -> tuple[list[Allocation], dict[str, TelemetryPoint]]:
        """What the aggregation engine needs, in one query: each member's share and validity,
        its resource's type, parameters, location and status, and its latest reading."""
        m, r, tm = t.vpp_members, t.resources, t.telemetry
        rows = self._c.execute(
            sa.select(
                r.c.id,
                r.c.resource_type,
                r.c.parameters,
                r.c.latitude,
                r.c.longitude,
                r.c.status,
                m.c.share_pct,
                m.c.valid_from,
                m.c.valid_to,
                tm.c.ts,
                tm.c.power_mw,
                tm.c.soc,
            )
            .join(m, m.c.resource_id == r.c.id)
            .outerjoin(tm, (tm.c.resource_id == r.c.id) & (tm.c.ts == r.c.last_seen_at))
            .where(m.c.vpp_id == vpp_id)
        )
        allocations: list[Allocation] = []
        readings: dict[str, TelemetryPoint] = {}
        for rid, kind, params, lat, lon, status, share, since, until, ts, power, soc in rows:
            unit = Unit(rid, ResourceType(kind), params, lat, lon, ResourceStatus(status))
            allocations.append(Allocation(unit, Decimal(share), since, until))
            if ts is not None:
                readings[rid] = TelemetryPoint(rid, ts, power, soc)
        return allocations, readings

    # Parameter history
    def add_settings(self, version: SettingsVersion) -> None:
        self._c.execute(
            t.vpp_parameters.insert().values(
                id=version.id,
                vpp_id=version.vpp_id,
                effective_from=version.effective_from,
                parameters=version.settings.model_dump(),
                recorded_at=version.recorded_at,
                recorded_by=version.recorded_by,
            )
        )

    def settings_history(self, vpp_ids: Sequence[str]) -> list[SettingsVersion]:
        p = t.vpp_parameters
        rows = self._c.execute(
            p.select().where(p.c.vpp_id.in_(vpp_ids)).order_by(p.c.effective_from, p.c.recorded_at)
        )
        return [
            SettingsVersion(
                id=row["id"],
                vpp_id=row["vpp_id"],
                effective_from=row["effective_from"],
                settings=VppSettings.model_validate(row["parameters"], context={"stored": True}),
                recorded_at=row["recorded_at"],
                recorded_by=row["recorded_by"],
            )
            for row in rows.mappings()
        ]


class GridNodeRepo(_Repo):
    def add(self, node: GridNode) -> None:
        self._c.execute(t.grid_nodes.insert().values(**asdict(node)))

    def delete(self, organization_id: str, code: str) -> bool:
        g = t.grid_nodes
        done = self._c.execute(
            g.delete().where(g.c.organization_id == organization_id, g.c.code == code)
        )
        return bool(done.rowcount)

    def all_of(self, organization_id: str) -> list[GridNode]:
        g = t.grid_nodes
        rows = self._c.execute(
            g.select().where(g.c.organization_id == organization_id).order_by(g.c.code)
        )
        return [GridNode(**r) for r in rows.mappings()]

    def by_code(self, organization_id: str) -> dict[str, GridNode]:
        return {n.code: n for n in self.all_of(organization_id)}
