"""Risk limits and the kill switch: per VPP and market limits, and the trading mode per VPP and
for the whole organization (ACTIVE / REDUCING / HALTED). Every change is audited.

A change of mode locks the state row it changes; submissions lock the same rows before they
check and insert, so an order either committed before the change (and is cancelled by it, when
HALTED) or sees the new mode. Switching to HALTED then cancels the open orders of its scope at
the venue; orders not yet known at the venue are flagged and cancelled by their sender or the
reconciler.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock
from openvpp.core.errors import NotFound, PermissionDenied, ValidationFailed
from openvpp.identity.model import Principal, Role
from openvpp.markets.presets import load_presets
from openvpp.markets.records import MarketConnection
from openvpp.ports import UnitOfWork
from openvpp.trading import orders as om
from openvpp.trading.orders import Order
from openvpp.trading.records import GLOBAL, StateRecord
from openvpp.trading.risk import DEFAULT_LIMITS, Limits, TradingMode, effective_mode
from openvpp.trading.service import OrderService

__all__ = ["ModeChange", "TradingControlService"]

log = logging.getLogger(__name__)
FLAG_CHUNK = 1000
"""Open orders flagged per transaction by a halt (one locked read of that many rows)."""
LIFTERS = frozenset({Role.ADMIN, Role.OPERATOR})
"""Roles that may relax a trading mode (others may only tighten it)."""


@dataclass(frozen=True, slots=True)
class ModeChange:
    """The new state and, for HALTED, what happened to the open orders."""

    state: StateRecord
    cancelled: int = 0
    cancel_pending: int = 0


def _limits_view(limits: Limits) -> dict[str, Any]:
    return {k: (None if v is None else str(v)) for k, v in limits.as_dict().items()}


class TradingControlService:
    def __init__(self, clock: Clock, orders: OrderService) -> None:
        self._clock = clock
        self._orders = orders

    @staticmethod
    def _check_vpp(uow: UnitOfWork, organization_id: str, vpp_id: str) -> None:
        if uow.vpps.get(organization_id, vpp_id) is None:
            raise NotFound(f"no VPP {vpp_id!r}", field="vpp_id")

    # --- limits ---------------------------------------------------------------------------
    def limits(
        self, uow: UnitOfWork, principal: Principal, vpp_id: str | None
    ) -> list[dict[str, Any]]:
        with uow:
            if vpp_id is not None:
                self._check_vpp(uow, principal.organization_id, vpp_id)
            return uow.trading_control.all_limits(principal.organization_id, vpp_id)

    def put_limits(
        self, uow: UnitOfWork, principal: Principal, vpp_id: str, market: str, limits: Limits
    ) -> Limits:
        if market not in load_presets():
            raise ValidationFailed(f"unknown market {market!r}", field="market")
        if (limits.reference_price is None) != (limits.price_band is None):
            raise ValidationFailed("reference_price and price_band go together", field="price_band")
        org = principal.organization_id
        with uow:
            self._check_vpp(uow, org, vpp_id)
            before = uow.trading_control.limits(org, vpp_id, market)
            uow.trading_control.put_limits(
                org, vpp_id, market, limits, self._clock.now(), principal.id
            )
            uow.record(
                AuditEvent(
                    action="trading.limits.update",
                    object_type="vpp",
                    object_id=vpp_id,
                    before={
                        "market": market,
                        "limits": _limits_view(before or DEFAULT_LIMITS),
                        "defaults": before is None,
                    },
                    after={"market": market, "limits": _limits_view(limits)},
                )
            )
            uow.commit()
        return limits

    # --- trading mode ---------------------------------------------------------------------
    def states(self, uow: UnitOfWork, principal: Principal) -> list[StateRecord]:
        """The organization's state (scope ``*``) and every VPP's that was ever set."""
        with uow:
            found = uow.trading_control.states(principal.organization_id)
        if not any(s.scope == GLOBAL for s in found):
            found.insert(
                0,
                StateRecord(
                    principal.organization_id, GLOBAL, TradingMode.ACTIVE, None, None,
                    self._clock.now(),
                ),
            )  # fmt: skip
        return found

    def set_mode(
        self,
        uow: UnitOfWork,
        principal: Principal,
        vpp_id: str | None,
        mode: TradingMode,
        reason: str | None,
    ) -> ModeChange:
        """Set the mode of a VPP (or of the organization when ``vpp_id`` is None); HALTED
        cancels the open orders of that scope at the venue."""
        org = principal.organization_id
        scope = GLOBAL if vpp_id is None else vpp_id
        if vpp_id is not None:
            with uow:
                self._check_vpp(uow, org, vpp_id)
        self._orders.ensure_state_rows(uow, org, scope)
        now = self._clock.now()
        with uow:
            old = uow.trading_control.state(org, scope, lock=True)
            old_mode = TradingMode.ACTIVE if old is None else old.mode
            if not principal.roles & LIFTERS and effective_mode(mode, old_mode) is not mode:
                raise PermissionDenied(
                    f"only an admin or operator may relax the trading mode from "
                    f"{old_mode.value} to {mode.value}"
                )
            new = StateRecord(org, scope, mode, reason, principal.id, now)
            uow.trading_control.set_state(new)
            uow.record(
                AuditEvent(
                    action="trading.state.change",
                    object_type="trading_state",
                    object_id=scope,
                    before=None if old is None else {"mode": old.mode.value, "reason": old.reason},
                    after={"mode": mode.value, "reason": reason, "vpp_id": vpp_id},
                )
            )
            uow.commit()
        if mode is not TradingMode.HALTED:
            return ModeChange(new)
        cancelled, pending = self.cancel_open(uow, org, vpp_id)
        return ModeChange(new, cancelled, pending)

    def cancel_open(
        self, uow: UnitOfWork, organization_id: str, vpp_id: str | None
    ) -> tuple[int, int]:
        """Cancel every open order of the organization (or VPP): (cancelled, still pending).
        All are flagged ``cancel_requested``, :data:`FLAG_CHUNK` per unit of work (an order
        placed meanwhile is cancelled by its sender once it sees the flag), then cancelled at
        their venues concurrently (``OrderService.cancel_many_at_venue``); the orders of a
        connection deleted meanwhile stay flagged and count as pending."""
        with uow:
            open_orders = uow.trading_orders.open_orders(organization_id, vpp_id)
        detail = {"kill_switch": True}
        flagged: list[Order] = []
        for k in range(0, len(open_orders), FLAG_CHUNK):  # IN lists stay short
            with uow:
                flagged += self._orders.record_many(
                    uow,
                    [
                        (o, [om.CancelRequested()], "trading.order.cancel_request", detail, uow)
                        for o in open_orders[k : k + FLAG_CHUNK]
                    ],
                    self._clock.now(),
                )
                uow.commit()
        connections: dict[str, MarketConnection | None] = {}
        for order in flagged:
            if order.connection_id not in connections:
                try:
                    connections[order.connection_id] = self._orders.connection_of(uow, order)
                except NotFound:  # deleted meanwhile: its orders stay flagged, pending
                    log.error("kill switch: no connection %s", order.connection_id)
                    connections[order.connection_id] = None
        sendable = [(o, c) for o in flagged if not o.final and (c := connections[o.connection_id])]
        done = self._orders.cancel_many_at_venue(
            uow,
            sendable,
            keep_going=True,  # a group that fails must not stop the others
        )
        cancelled = sum(1 for o in flagged if o.final) + sum(1 for o in done if o.final)
        return cancelled, len(flagged) - cancelled
