"""Clearing of one auction day of the simulated exchange (pure function over integer ticks and
lots, built on :func:`openvpp.markets.clearing.auction.clear_day`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np

from openvpp.markets.calendar import delivery_intervals
from openvpp.markets.clearing.auction import PriceRule, clear_day
from openvpp.markets.exchange.model import PeriodResult, TradeSide
from openvpp.markets.model import Market, PricingRule, Product

__all__ = ["AuctionFill", "AuctionOrder", "clear_auction_day"]


@dataclass(frozen=True, slots=True)
class AuctionOrder:
    """An order of the day in venue units: ``period`` index in the day's delivery grid,
    ``price`` [ticks], ``lots`` [volume ticks]."""

    venue_order_id: str
    period: int
    side: TradeSide
    price: int
    lots: int


@dataclass(frozen=True, slots=True)
class AuctionFill:
    """Accepted ``lots`` of an order at ``price`` [currency/MWh]."""

    venue_order_id: str
    lots: int
    price: Decimal


def _limit_ticks(market: Market) -> tuple[int, int]:
    limits, tick = market.clearing_limits, market.price_tick
    lo = (limits.min / tick).to_integral_value(rounding=ROUND_CEILING)
    hi = (limits.max / tick).to_integral_value(rounding=ROUND_FLOOR)
    return int(lo), int(hi)


def clear_auction_day(
    market: Market,
    product: Product,
    day: date,
    orders: Sequence[AuctionOrder],
    price_rule: PriceRule,
) -> tuple[tuple[PeriodResult, ...], list[AuctionFill]]:
    """Clear every delivery interval of the local ``day`` (92, 96 or 100 quarter-hours on
    DST days) and return the per-period results and the fills of accepted orders.

    Pay-as-clear markets fill at the period's clearing price, pay-as-bid markets at each
    order's own price (the period price is then the rule's reference price).
    """
    intervals = delivery_intervals(product, day)
    price_min, price_max = _limit_ticks(market)
    sell = [o for o in orders if o.side is TradeSide.SELL]
    buy = [o for o in orders if o.side is TradeSide.BUY]

    def cols(rows: list[AuctionOrder]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.array([o.period for o in rows], dtype=np.int64),
            np.array([o.price for o in rows], dtype=np.int64),
            np.array([o.lots for o in rows], dtype=np.int64),
        )

    s_per, s_price, s_lots = cols(sell)
    d_per, d_price, d_lots = cols(buy)
    result = clear_day(
        s_per,
        s_price,
        s_lots,
        d_per,
        d_price,
        d_lots,
        price_rule=price_rule,
        price_min=price_min,
        price_max=price_max,
        n_periods=len(intervals),
    )
    tick, vol = market.price_tick, market.volume_tick_mw
    periods = tuple(
        PeriodResult(
            iv.start_utc,
            iv.end_utc,
            None if r.price is None else Decimal(r.price) * tick,
            Decimal(r.volume) * vol,
        )
        for iv, r in zip(intervals, result.periods, strict=True)
    )
    pay_as_bid = market.pricing is PricingRule.PAY_AS_BID
    fills: list[AuctionFill] = []
    for rows, accepted in ((sell, result.supply_accepted), (buy, result.demand_accepted)):
        for o, lots in zip(rows, accepted.tolist(), strict=True):
            if lots <= 0:
                continue
            clearing = periods[o.period].price
            price = Decimal(o.price) * tick if pay_as_bid or clearing is None else clearing
            fills.append(AuctionFill(o.venue_order_id, int(lots), price))
    return periods, fills
