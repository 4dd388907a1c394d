"""Venue modes of the simulated exchange: historical replay of auction products and published
imbalance prices (the pure parts are :mod:`openvpp.markets.exchange.replay_mode` and
:mod:`openvpp.markets.exchange.imbalance_mode`). Every public method takes the one lock.

Gate checks are not relaxed for replayed products: orders for a historical day are accepted
while the venue's clock says its gate is open, so replay runs with a clock set in the past
(``openvpp exchange serve --clock-start``, or any injected :class:`~openvpp.core.clock.Clock`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.core.errors import ValidationFailed
from openvpp.markets.exchange.clearing import AuctionFill, AuctionOrder, clear_auction_day
from openvpp.markets.exchange.imbalance_mode import (
    ImbalanceConfig,
    RealTimeSource,
    real_time_day,
    settlement_ticks,
    synthetic_day,
)
from openvpp.markets.exchange.model import ImbalanceResult, PeriodResult
from openvpp.markets.exchange.replay_mode import (
    ReplayConfig,
    ReplaySource,
    clear_replay_day,
    prepare_history,
    replay_day_ticks,
)
from openvpp.markets.exchange.state import ExchangeState
from openvpp.markets.model import Market, PriceBasis, Product, VenueKind
from openvpp.markets.replay import ResidualBookParams

IntArray = NDArray[np.int64]

__all__ = ["ExchangeModes"]


class ExchangeModes(ExchangeState):
    """Replay and imbalance-price configuration and queries of the venue."""

    def _init_modes(self, replay: ReplayConfig | None, imbalance: ImbalanceConfig) -> None:
        for code, src in imbalance.real_time.items():
            if isinstance(src, RealTimeSource):
                self._real_time[self._market(code).code] = src
        if replay is not None:
            for (market, product), series in replay.prices.items():
                self.set_replay(market, product, series, residual=replay.residual)

    # ------------------------------------------------------------------ replay

    def set_replay(
        self,
        market: str,
        product: str,
        prices: pd.Series,
        residual: ResidualBookParams | None = None,
    ) -> ReplaySource:
        """Clear the auctions of ``market``/``product`` against ``prices``, historical clearing
        prices [currency/MWh] indexed by tz-aware interval starts (copied; off-tick values are
        rounded to the price tick). ``residual`` adds the synthetic residual book; ``None``
        makes the venue's orders price takers. Days cleared already keep their results.
        ``ValidationFailed`` for a continuous market or an unusable series."""
        with self._lock:
            m, p = self._market_product(market, product)
            if m.venue is VenueKind.CONTINUOUS:
                raise ValidationFailed(
                    f"replay needs an auction market; {m.code} is continuous", field="market"
                )
            try:
                source = prepare_history(prices, m, p, residual)
            except ValueError as exc:
                raise ValidationFailed(f"replay {m.code}/{p.code}: {exc}", field="prices") from None
            self._replay[(m.code, p.code)] = source
            return source

    def clear_replay(self, market: str, product: str) -> None:
        """Back to clearing ``market``/``product`` from orders (no-op without replay)."""
        with self._lock:
            m, p = self._market_product(market, product)
            self._replay.pop((m.code, p.code), None)

    def replay_sources(self) -> dict[tuple[str, str], ReplaySource]:
        """The configured histories by (market, product)."""
        with self._lock:
            return dict(self._replay)

    def _clear_day(
        self, market: Market, product: Product, day: date, orders: Sequence[AuctionOrder]
    ) -> tuple[tuple[PeriodResult, ...], list[AuctionFill]]:
        """Clear one auction day: against history when replay is configured, else from the
        orders; a day history does not cover raises ``ValidationFailed`` naming it."""
        source = self._replay.get((market.code, product.code))
        if source is None:
            return clear_auction_day(market, product, day, orders, self.price_rule)
        try:
            return clear_replay_day(market, product, day, orders, source)
        except ValueError as exc:
            raise ValidationFailed(
                f"replay {market.code}/{product.code}: no usable history for {day}: {exc}",
                field="day",
            ) from None

    # ------------------------------------------------------------------ imbalance prices

    def set_real_time_prices(
        self, market: str, short: pd.Series, long: pd.Series | None = None
    ) -> None:
        """Publish imbalance prices of ``market`` from real-time history [currency/MWh]
        indexed by tz-aware interval starts (copied): ``short`` alone gives single pricing,
        with ``long`` dual pricing."""
        with self._lock:
            m = self._market(market)
            try:
                source = RealTimeSource(short, long)
            except ValueError as exc:
                raise ValidationFailed(str(exc), field="prices") from None
            self._real_time[m.code] = source

    def clear_real_time_prices(self, market: str) -> None:
        """Back to synthetic imbalance prices for ``market`` (no-op without real-time)."""
        with self._lock:
            self._real_time.pop(self._market(market).code, None)

    def imbalance_prices(self, market: str, day: date) -> ImbalanceResult:
        """Imbalance prices of ``market`` for the local ``day`` on its settlement grid
        [currency/MWh]: from real-time history when configured, else synthetic around the
        day's day-ahead prices: a cleared auction of the market with a price in every interval
        (finest product first), else replay history. ``ValidationFailed`` when neither exists
        or history does not cover the day."""
        with self._lock:
            m = self._market(market)
            rt = self._real_time.get(m.code)
            try:
                if rt is not None:
                    return real_time_day(m, day, rt)
                product, ticks, reference = self._day_ahead(m, day)
                settle, da = settlement_ticks(m, product, day, ticks)
                return synthetic_day(m, day, settle, da, self.imbalance_config, reference)
            except ValueError as exc:
                raise ValidationFailed(
                    f"imbalance prices of {m.code} for {day}: {exc}", field="day"
                ) from None

    def _market(self, market: str) -> Market:
        m = self.markets.get(market)
        if m is None:
            raise ValidationFailed(
                f"unknown market {market!r}; known: {sorted(self.markets)}", field="market"
            )
        return m

    def _day_ahead(self, m: Market, day: date) -> tuple[Product, IntArray, str]:
        if m.price_basis is not PriceBasis.ENERGY:
            raise ValueError(
                f"{m.code} prices capacity, not energy: configure real-time prices for it"
            )
        products = sorted(m.products, key=lambda p: p.period_min)
        for p in products:
            result = self._results.get((m.code, p.code, day))
            if result is None:
                continue
            prices = [r.price for r in result.periods if r.price is not None]
            if len(prices) == len(result.periods):
                ticks = np.array([int(x / m.price_tick) for x in prices], dtype=np.int64)
                return p, ticks, f"auction {m.code}/{p.code}"
        for p in products:
            source = self._replay.get((m.code, p.code))
            if source is not None:
                return p, replay_day_ticks(source, m, p, day), f"replay {m.code}/{p.code}"
        raise ValueError(
            "no day-ahead prices: no cleared auction with a price in every interval and no "
            "replay history; run the auction or configure replay or real-time prices"
        )
