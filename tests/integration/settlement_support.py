"""A VPP with fills, meters and prices on a day, for the settlement tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd

from openvpp.core.ids import new_id
from openvpp.dispatch.instructions_service import MonitoringRecord
from openvpp.identity.model import Principal, Role
from openvpp.markets.calendar import delivery_intervals
from openvpp.markets.presets import load_presets
from openvpp.runtime import Runtime
from openvpp.seed import seed_demo
from openvpp.store import loop_tables, tables
from openvpp.trading.records import FillRecord
from openvpp.vpp.model import VppSettings

SDAC = load_presets()["EU-SDAC"]
AREA = "DE-LU"
DAY = date(2026, 10, 25)  # 25 hours in Brussels: 100 quarter-hours


@dataclass
class Book:
    org: str
    admin: Principal
    vpp: str
    starts: list[datetime]  # the day's quarter-hours [UTC]


def make_book(rt: Runtime, day: date = DAY) -> Book:
    org = seed_demo(rt).organization_id
    admin = Principal("user", "t", org, frozenset({Role.ADMIN}), "t")
    vpp = rt.vpps.create(
        rt.uow(),
        admin,
        name=f"Settled {new_id()[:8]}",
        market_area=AREA,
        description="",
        settings=VppSettings(),
        members=[],
    ).id
    starts = [iv.start_utc for iv in delivery_intervals(SDAC, day)]
    return Book(org, admin, vpp, starts)


def fill(
    rt: Runtime,
    book: Book,
    start: datetime,
    mw: str,
    price: str,
    *,
    side: str = "sell",
    market: str = "EU-SDAC",
    product: str = "QH",
) -> None:
    now = rt.clock.now()
    with rt.uow() as uow:
        uow.trading_fills.add(
            FillRecord(
                id=new_id(),
                organization_id=book.org,
                connection_id="c-settle",
                trade_id=new_id(),
                order_id=None,
                vpp_id=book.vpp,
                venue_order_id="v",
                client_order_id="c",
                market=market,
                product=product,
                delivery_start=start,
                side=side,
                price=Decimal(price),
                quantity=Decimal(mw),
                seq=1,
                executed_at=now,
                received_at=now,
            )
        )
        uow.commit()


def meter(
    rt: Runtime,
    book: Book,
    start: datetime,
    metered_mw: float | None,
    *,
    scheduled_mw: float = 0.0,
    resource: str = "",
) -> None:
    with rt.uow() as uow:
        uow.monitoring.upsert(
            [
                MonitoringRecord(
                    id=new_id(),
                    organization_id=book.org,
                    vpp_id=book.vpp,
                    resource_id=resource,
                    interval_start=start,
                    interval_min=15,
                    scheduled_mw=scheduled_mw,
                    metered_mw=metered_mw,
                    deviation_mw=None,
                    deviation_mwh=None,
                    coverage=1.0,
                    severity=None,
                    created_at=rt.clock.now(),
                )
            ]
        )
        uow.commit()


def prices(
    rt: Runtime,
    book: Book,
    *,
    day_ahead: float | list[float],
    imbalance: float,
    known_at: datetime | None = None,
    product: str = "QH",
) -> None:
    """Prices over the day: the day-ahead ``price`` of ``product`` (flat, or one per
    quarter-hour) and flat imbalance prices (long = short: single pricing)."""
    known = known_at or rt.clock.now() - timedelta(days=1)
    rows = []
    for k, s in enumerate(book.starts):
        base = {"market": "EU-SDAC", "area": AREA, "start": s, "period_min": 15, "known_at": known}
        value = day_ahead[k] if isinstance(day_ahead, list) else day_ahead
        rows.append(
            {**base, "product": product, "series": "price", "value": value, "unit": "EUR/MWh"}
        )
        for series in ("imbalance_long", "imbalance_short"):
            rows.append(
                {**base, "product": "IMB", "series": series, "value": imbalance, "unit": "EUR/MWh"}
            )
    frame = pd.DataFrame(rows)
    for c in ("start", "known_at"):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    rt.market_data.store(
        rt.uow(),
        book.org,
        frame,
        fmt="test",
        source="test",
        data=b"x",
        rows_read=len(rows),
        report={},
        actor=None,
    )


def bulk_day(rt: Runtime, book: Book, starts: list[datetime], resources: int, seed: int) -> None:
    """Fills in every interval, and meter rows of the VPP and ``resources`` resources, written
    with one statement each (the services' one-by-one paths are too slow for volume)."""
    rng = np.random.default_rng(seed)
    now = rt.clock.now()
    position = rng.uniform(-2, 2, len(starts)).round(1)
    fills, meters = [], []
    for k, s in enumerate(starts):
        if position[k] == 0:
            continue
        fills.append(
            {
                "id": new_id(),
                "organization_id": book.org,
                "connection_id": "c-bulk",
                "trade_id": new_id(),
                "order_id": None,
                "vpp_id": book.vpp,
                "venue_order_id": "v",
                "client_order_id": "c",
                "market": "EU-SDAC",
                "product": "QH",
                "delivery_start": s,
                "side": "sell" if position[k] > 0 else "buy",
                "price": Decimal(str(round(float(rng.uniform(20, 90)), 2))),
                "quantity": Decimal(str(abs(position[k]))),
                "seq": k,
                "executed_at": now,
                "received_at": now,
            }
        )
    share = position / resources
    for r in range(resources + 1):
        for k, s in enumerate(starts):
            sched = position[k] if r == 0 else share[k]
            meters.append(
                {
                    "id": new_id(),
                    "organization_id": book.org,
                    "vpp_id": book.vpp,
                    "resource_id": "" if r == 0 else f"r-{r:04d}",
                    "interval_start": s,
                    "interval_min": 15,
                    "scheduled_mw": float(sched),
                    "metered_mw": float(sched + rng.normal(0, 0.05)),
                    "deviation_mw": None,
                    "deviation_mwh": None,
                    "coverage": 1.0,
                    "severity": None,
                    "created_at": now,
                }
            )
    with rt.engine.begin() as conn:
        if fills:
            conn.execute(tables.trading_fills.insert(), fills)
        conn.execute(loop_tables.monitoring_records.insert(), meters)


def vpp_load_history(
    rt: Runtime, book: Book, market_zone: str, first: date, last: date, load_mw: float
) -> None:
    """The VPP's own meter rows, a flat consumption of ``load_mw`` every quarter-hour of the
    local days ``first`` … ``last``."""
    now = rt.clock.now()
    start = pd.Timestamp(first).tz_localize(market_zone).tz_convert("UTC")
    end = pd.Timestamp(last + timedelta(days=1)).tz_localize(market_zone).tz_convert("UTC")
    rows = [
        {
            "id": new_id(), "organization_id": book.org, "vpp_id": book.vpp, "resource_id": "",
            "interval_start": t.to_pydatetime(), "interval_min": 15, "scheduled_mw": 0.0,
            "metered_mw": -load_mw, "deviation_mw": None, "deviation_mwh": None,
            "coverage": 1.0, "severity": None, "created_at": now,
        }
        for t in pd.date_range(start, end, freq="15min", inclusive="left")
    ]  # fmt: skip
    with rt.engine.begin() as conn:
        conn.execute(loop_tables.monitoring_records.insert(), rows)
