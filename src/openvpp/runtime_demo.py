"""The demo's live market feed (``make run``): the server publishes the demo market's prices as
time goes on, as a venue and a system operator would, so that a live demo keeps forecasting,
bidding and settling for as long as it runs.

The seed stores three weeks of the cycled PJM prices up to what is published at seeding and
the synthetic imbalance prices through the next day (:mod:`openvpp.demo.live_market`). After
that, :class:`DemoFeed` stores each day's day-ahead prices on its eve at 13:30 New York time
and the imbalance prices of each new tomorrow for the demo organization (once it holds the
demo's prices: ``openvpp db seed`` with the park), one import each time something is due. A
server stopped for days catches up (at most the seed's three weeks) when it starts again.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pandas as pd

from openvpp.core.errors import NotFound
from openvpp.demo import DEMO_SLUG
from openvpp.demo.live_market import (
    LIVE_MARKET,
    LIVE_PRODUCT,
    LIVE_SOURCE,
    SEEDED_DAYS,
    published_frame,
)
from openvpp.demo.park import AREA
from openvpp.markets.data_service import ImportOutcome
from openvpp.markets.presets import load_presets
from openvpp.markets.records import SeriesKey
from openvpp.ports import UnitOfWork
from openvpp.runtime_loops import every
from openvpp.runtime_trading import system_uow

if TYPE_CHECKING:
    from openvpp.runtime import Runtime

__all__ = ["FEED_INTERVAL_S", "DemoFeed", "demo_feed_loop", "store_demo_prices"]

log = logging.getLogger(__name__)

FEED_INTERVAL_S = 300.0
"""How often the server looks for due demo prices [s]."""
PRICES = SeriesKey(LIVE_MARKET, AREA, LIVE_PRODUCT, "price")
IMBALANCE = SeriesKey(LIVE_MARKET, AREA, "IMB", "imbalance_short")


def store_demo_prices(
    rt: Runtime, uow: UnitOfWork, organization_id: str, frame: pd.DataFrame
) -> ImportOutcome:
    """Store rows of the demo's live market as one market data import (format ``demo``)."""
    return rt.market_data.store(
        uow,
        organization_id,
        frame,
        fmt="demo",
        source=LIVE_SOURCE,
        data=frame.to_csv(index=False).encode(),
        rows_read=len(frame),
        report={},
        actor=None,
    )


class DemoFeed:
    """Stores the demo market's prices that are due for the demo organization."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._market = load_presets()[LIVE_MARKET]
        self._product = self._market.product(LIVE_PRODUCT)
        self._zone = ZoneInfo(self._product.time_zone)

    def tick(self) -> list[dict[str, Any]]:
        """Store what is due; the import made (organization, values stored), if any."""
        rt = self._rt
        now = rt.clock.now()
        earliest = now.astimezone(self._zone).date() - timedelta(days=SEEDED_DAYS)

        def after(last: datetime | None) -> date:
            if last is None:
                return earliest
            return max(earliest, last.astimezone(self._zone).date() + timedelta(days=1))

        try:
            org = rt.identity.organization_by_slug(rt.uow(readonly=True), DEMO_SLUG).id
        except NotFound:
            return []
        last: dict[SeriesKey, datetime] = {}
        for info in rt.market_data.catalog(rt.uow(readonly=True), org, LIVE_MARKET):
            last[info.key] = max(info.last_start, last.get(info.key, info.last_start))
        if PRICES not in last:  # seeded without the park: no live market
            return []
        frame = published_frame(
            self._market,
            self._product,
            AREA,
            now,
            prices_from=after(last[PRICES]),
            imbalance_from=after(last.get(IMBALANCE)),
        )
        if frame is None:
            return []
        outcome = store_demo_prices(rt, system_uow(rt, org, "demo-feed"), org, frame)
        return [{"organization_id": org, "values_stored": outcome.record.values_stored}]


async def demo_feed_loop(rt: Runtime, interval_s: float = FEED_INTERVAL_S) -> None:
    """Run :meth:`DemoFeed.tick` every ``interval_s`` [s]."""
    await every(interval_s, DemoFeed(rt).tick, "demo feed", log)
