"""The intraday leg of the closed loop: the deviation a VPP just showed, expected to persist
(halving every hour), is the residual of its later awarded intervals; it is traded on the
intraday market (:data:`~openvpp.dispatch.correction.INTRADAY_MARKET`) when the organization
has an enabled connection serving it, as limit orders around the award's price
(:func:`~openvpp.dispatch.correction.intraday_residual`). Without a connection, or with the
gate closed, the residual is recorded as not traded (audit ``dispatch.intraday``).

Client order ids are derived from the VPP, the interval and the side, so a repeated run
submits nothing new (the order service is idempotent by client order id).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from openvpp.audit.chain import AuditEvent
from openvpp.core.clock import Clock
from openvpp.dispatch.correction import INTRADAY_MARKET, expected_deviation, intraday_residual
from openvpp.dispatch.service import INTERVAL, interval_start
from openvpp.markets.presets import load_presets
from openvpp.ports import UnitOfWork
from openvpp.trading.records import SubmitOrder

__all__ = ["HORIZON", "IntradayService", "ResidualPlan"]

HORIZON = 4  # later intervals looked at [intervals]
HALF_LIFE = timedelta(hours=1)


@dataclass(frozen=True)
class ResidualPlan:
    vpp_id: str
    interval_start: datetime  # the monitored interval the deviation comes from
    orders: tuple[SubmitOrder, ...]
    untraded: dict[str, float]  # interval start (ISO) -> residual not traded [MW]
    reason: str | None  # why nothing was traded, if so

    def summary(self) -> dict[str, object]:
        return {
            "vpp_id": self.vpp_id,
            "from_interval": self.interval_start.isoformat(),
            "orders": [
                {
                    "client_order_id": o.client_order_id,
                    "delivery_start": o.delivery_start.isoformat(),
                    "side": o.side,
                    "quantity_mw": str(o.quantity),
                    "price": str(o.price),
                }
                for o in self.orders
            ],
            "untraded_mw": self.untraded,
            "reason": self.reason,
        }


def _client_id(vpp_id: str, start: datetime, side: str) -> str:
    digest = hashlib.sha256(f"{vpp_id}|{start.isoformat()}|{side}".encode()).hexdigest()
    return f"dispatch-residual-{digest[:24]}"


class IntradayService:
    def __init__(self, clock: Clock, *, horizon: int = HORIZON) -> None:
        self._clock = clock
        self.horizon = horizon

    def plan(
        self,
        uow: UnitOfWork,
        organization_id: str,
        vpp_id: str,
        monitored: datetime,
        deviation_mw: float,
    ) -> ResidualPlan | None:
        """The orders that close the expected residual of the VPP's later awarded intervals
        (None: no later award or no deviation). Records an audit row when nothing can be
        traded (no connection, gate closed, below the deadband)."""
        now = self._clock.now()
        first = interval_start(now, INTERVAL) + INTERVAL
        starts = [first + k * INTERVAL for k in range(self.horizon)]
        market = load_presets()[INTRADAY_MARKET]
        with uow:
            fills = uow.dispatch.fills(organization_id, vpp_id, first, starts[-1] + INTERVAL)
            price = np.full(len(starts), np.nan)
            for j, s in enumerate(starts):
                covering = [float(f[5]) for f in fills if f[2] <= s < f[2] + _period(f[0], f[1])]
                if covering:
                    price[j] = float(np.mean(covering))
            awarded = np.isfinite(price)
            if not awarded.any() or deviation_mw == 0.0:
                return None
            # the residual rule takes a regular grid: the first run of awarded intervals
            k0 = int(np.argmax(awarded))
            k1 = k0
            while k1 < len(starts) and awarded[k1]:
                k1 += 1
            idx = pd.date_range(starts[k0], periods=k1 - k0, freq=INTERVAL)
            expected = expected_deviation(
                deviation_mw, len(idx), INTERVAL, method="decay", half_life=HALF_LIFE
            )
            ref = np.array([price[starts.index(s.to_pydatetime())] for s in idx])
            residual = intraday_residual(idx, expected, now, market, ref)
            connection = next(
                (
                    c
                    for c in uow.market_connections.of_org(organization_id)
                    if c.enabled and INTRADAY_MARKET in c.markets
                ),
                None,
            )
            untraded = {
                s.isoformat(): float(x)
                for s, x in zip(idx.to_pydatetime(), residual.residual_mw, strict=True)
            }
            reason: str | None = None
            orders: tuple[SubmitOrder, ...] = ()
            if connection is None:
                reason = f"no enabled connection serves {INTRADAY_MARKET}"
            elif not residual.orders:
                reason = "gate closed or residual below the deadband"
            else:
                orders = tuple(
                    SubmitOrder(
                        client_order_id=_client_id(vpp_id, o.delivery_start, o.side.value),
                        vpp_id=vpp_id,
                        market=o.market,
                        product=o.product,
                        delivery_start=o.delivery_start,
                        side=o.side.value,
                        price=o.limit_price,
                        quantity=o.quantity_mw,
                        connection_id=connection.id,
                    )
                    for o in residual.orders
                )
                for o in residual.orders:
                    untraded.pop(o.delivery_start.isoformat(), None)
            plan = ResidualPlan(vpp_id, monitored, orders, untraded, reason)
            if reason is not None:
                uow.record(
                    AuditEvent(
                        "dispatch.intraday",
                        "vpp",
                        vpp_id,
                        after=plan.summary(),
                        outcome="rejected",
                        organization_id=organization_id,
                    )
                )
                uow.commit()
        return plan


def _period(market: str, product: str) -> timedelta:
    m = load_presets().get(market)
    for p in m.products if m is not None else ():
        if p.code == product:
            return timedelta(minutes=p.period_min)
    return timedelta(0)
