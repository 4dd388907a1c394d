"""Consumer side of a venue's fills feed: resume from a cursor, sort by sequence and apply each
trade once (feeds may repeat or reorder fills)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from openvpp.markets.connectors.protocol import Fill, VenueConnector

__all__ = ["FillDeduplicator", "poll_fills"]


class FillDeduplicator:
    """Remembers the last ``max_remembered`` trade ids and the feed cursor (highest ``seq``)."""

    def __init__(self, cursor: int = 0, *, max_remembered: int = 100_000) -> None:
        self.cursor = cursor
        self.max_remembered = max_remembered
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.duplicates = 0

    def accept(self, fills: Iterable[Fill]) -> list[Fill]:
        """The fills not seen before, in ``seq`` order; advances the cursor."""
        out: list[Fill] = []
        for fill in sorted(fills, key=lambda f: f.seq):
            if fill.trade_id in self._seen:
                self.duplicates += 1
                continue
            self._seen[fill.trade_id] = None
            if len(self._seen) > self.max_remembered:
                self._seen.popitem(last=False)
            out.append(fill)
            self.cursor = max(self.cursor, fill.seq)
        return out


async def poll_fills(connector: VenueConnector, dedup: FillDeduplicator) -> list[Fill]:
    """Fetch the fills after ``dedup.cursor`` and return the new ones, each trade once."""
    page = await connector.fetch_fills(dedup.cursor)
    new = dedup.accept(page.fills)
    dedup.cursor = max(dedup.cursor, page.next_after)
    return new
