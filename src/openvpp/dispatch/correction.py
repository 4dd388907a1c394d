"""Closed-loop correction (pure): cancel a deviation inside the interval with the flexibility
left, and trade the expected residual of later intervals on the intraday market.

Sign convention: power [MW] positive = injection, negative = withdrawal; a deviation is
metered - scheduled, so a negative deviation is a shortfall (the VPP must inject more, or buy)
and a positive one a surplus (inject less, or sell). Instants tz-aware UTC.

Both corrections produce targets, not instructions: :func:`within_interval` gives the VPP's
corrected power for the rest of the interval and a per-resource split, which the re-dispatch
(:mod:`openvpp.dispatch.disaggregate`) turns into setpoints; :func:`intraday_residual` gives
per-interval re-dispatch targets and :class:`OrderIntent` records that the trading layer turns
into orders. See ``docs/monitoring.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.core.clock import ensure_utc
from openvpp.markets.calendar import gate_closure, gate_opening
from openvpp.markets.model import Market, Product
from openvpp.optimization.ladders import round_to_lots

__all__ = [
    "CORRECTION_DEADBAND_MW",
    "IntradayPlan",
    "IntradayPolicy",
    "OrderIntent",
    "Side",
    "WithinIntervalCorrection",
    "expected_deviation",
    "intraday_product",
    "intraday_residual",
    "within_interval",
]

FloatArray = NDArray[np.float64]
INTRADAY_MARKET = "EU-SIDC"
CORRECTION_DEADBAND_MW = 0.05
"""A within-interval deviation needing a smaller power change [MW] is left alone: chasing
zero-mean tracking and measurement noise only cycles energy through the devices' losses
(the live dispatch's and the simulation's default)."""


# --------------------------------------------------------------------------- within interval


@dataclass(frozen=True)
class WithinIntervalCorrection:
    """The corrective power for the rest of the interval.

    needed_mw : the VPP power change over the remaining time that cancels the deviation
        exactly [MW] (0 inside the deadband)
    delta_mw : each resource's change [MW], proportional to its headroom in that direction
    setpoint_mw : each resource's corrected power, ``expected + delta`` [MW]
    uncorrectable_mw : the part of ``needed_mw`` the headroom cannot give [MW], same sign;
        ``uncorrectable_mwh`` its energy over the remaining time [MWh]
    vpp_target_mw : the VPP's corrected power for the rest of the interval [MW]
    """

    remaining_h: float
    needed_mw: float
    delta_mw: FloatArray
    setpoint_mw: FloatArray
    uncorrectable_mw: float
    vpp_target_mw: float

    @property
    def corrected_mw(self) -> float:
        """The VPP power change the resources give [MW]."""
        return float(self.delta_mw.sum())

    @property
    def uncorrectable_mwh(self) -> float:
        """Deviation energy left at the interval's end [MWh], as a shortfall (< 0) or surplus
        (> 0) to cancel: ``-uncorrectable_mw x remaining_h``."""
        return -self.uncorrectable_mw * self.remaining_h


def within_interval(
    scheduled_mwh: float,
    delivered_mwh: float,
    interval: timedelta,
    elapsed: float,
    expected_mw: FloatArray,
    p_min_mw: FloatArray,
    p_max_mw: FloatArray,
    *,
    energy_up_mwh: FloatArray | None = None,
    energy_down_mwh: FloatArray | None = None,
    deadband_mw: float = 0.0,
) -> WithinIntervalCorrection:
    """Re-dispatch the remaining flexibility so that the interval's energy meets the schedule.

    scheduled_mwh : the VPP's scheduled energy of the interval [MWh]
    delivered_mwh : its energy delivered so far [MWh]
    elapsed : fraction of the interval gone [0..1)
    expected_mw : ``(n,)`` each resource's power for the rest of the interval without
        correction (its current metered power, or its setpoint) [MW]
    p_min_mw, p_max_mw : ``(n,)`` each resource's feasible power now [MW]
    energy_up_mwh, energy_down_mwh : ``(n,)`` the most extra energy each resource can inject
        (a battery: stored energy above its minimum, times the discharge efficiency) and
        absorb (room below its maximum over the charge efficiency) beyond ``expected`` over
        the rest of the interval [MWh]; default unlimited
    deadband_mw : a needed change smaller than this is left alone [MW]

    The needed VPP change is ``(scheduled - delivered - sum(expected) x remaining_h) /
    remaining_h``; each resource's headroom in its direction is its power room capped by its
    energy room over the remaining time, and every resource gives the same fraction
    ``min(1, |needed| / total headroom)`` of its headroom. Setpoints stay within
    ``[p_min, p_max]`` whenever the expected powers do.
    """
    if not 0.0 <= elapsed < 1.0:
        raise ValueError(f"elapsed must lie in [0, 1), got {elapsed}")
    p = np.asarray(expected_mw, dtype=np.float64)
    lo = np.asarray(p_min_mw, dtype=np.float64)
    hi = np.asarray(p_max_mw, dtype=np.float64)
    if not p.shape == lo.shape == hi.shape or p.ndim != 1:
        raise ValueError("expected_mw, p_min_mw and p_max_mw must be (n,) arrays of one length")
    if np.any(lo > hi):
        raise ValueError("p_min_mw must not exceed p_max_mw")
    remaining_h = (1.0 - elapsed) * (interval / timedelta(hours=1))
    needed = (scheduled_mwh - delivered_mwh) / remaining_h - float(p.sum())
    if not math.isfinite(needed):
        raise ValueError("scheduled_mwh, delivered_mwh and expected_mw must be finite")
    if abs(needed) < deadband_mw:
        needed = 0.0
    up = np.clip(hi - p, 0.0, None)
    down = np.clip(p - lo, 0.0, None)
    if energy_up_mwh is not None:
        up = np.minimum(up, np.clip(np.asarray(energy_up_mwh, np.float64), 0, None) / remaining_h)
    if energy_down_mwh is not None:
        room = np.clip(np.asarray(energy_down_mwh, np.float64), 0, None) / remaining_h
        down = np.minimum(down, room)
    headroom = up if needed > 0 else down
    total = float(headroom.sum())
    share = 0.0 if total <= 0.0 else min(1.0, abs(needed) / total)
    delta = math.copysign(share, needed) * headroom
    given = float(delta.sum())
    short_of_headroom = total <= 0.0 or abs(needed) >= total
    return WithinIntervalCorrection(
        remaining_h=remaining_h,
        needed_mw=needed,
        delta_mw=delta,
        setpoint_mw=p + delta,
        uncorrectable_mw=needed - given if short_of_headroom else 0.0,
        vpp_target_mw=float(p.sum()) + given,
    )


# --------------------------------------------------------------------------- later intervals


def expected_deviation(
    recent_mw: float,
    steps: int,
    interval: timedelta,
    *,
    method: Literal["persistence", "decay"] = "persistence",
    half_life: timedelta = timedelta(hours=1),
    forecast_mw: FloatArray | None = None,
) -> FloatArray:
    """Expected deviation [MW] (metered - scheduled) of the next ``steps`` intervals.

    persistence : the recent deviation holds
    decay : it halves every ``half_life``: ``recent x 0.5 ^ (k x interval / half_life)`` for
        the k-th interval ahead (k = 1, 2, ...)
    forecast_mw : when given, used as is (``(steps,)``; the other options are ignored)
    """
    if forecast_mw is not None:
        f = np.asarray(forecast_mw, dtype=np.float64)
        if f.shape != (steps,):
            raise ValueError(f"forecast_mw must have shape ({steps},), got {f.shape}")
        return f.copy()
    if method == "persistence":
        return np.full(steps, float(recent_mw))
    if half_life <= timedelta(0):
        raise ValueError(f"half_life must be positive, got {half_life}")
    k = np.arange(1, steps + 1, dtype=np.float64)
    return np.asarray(float(recent_mw) * 0.5 ** (k * (interval / half_life)), dtype=np.float64)


class Side(StrEnum):
    """Order side; the values match the trading connectors' ``OrderSide``."""

    BUY = "buy"  # the VPP is short: it will deliver less than sold
    SELL = "sell"  # the VPP is long: it will deliver more than sold


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order the trading layer should place: ``quantity_mw`` over the delivery interval
    ``[delivery_start, delivery_end)`` [UTC] at a limit price [currency/MWh], before
    ``gate_closure`` [UTC]."""

    market: str
    product: str
    delivery_start: datetime
    delivery_end: datetime
    side: Side
    quantity_mw: Decimal
    limit_price: Decimal
    gate_closure: datetime
    expected_deviation_mw: float
    reason: str


@dataclass(frozen=True, slots=True)
class IntradayPolicy:
    """How residuals are traded.

    deadband_mw : a residual smaller than this is not traded [MW]
    spread : added to the reference price for a purchase, subtracted for a sale
        [currency/MWh]: the most we pay, the least we accept
    gate_margin : an interval is traded only when its gate closes more than this after now
        (the time the trading layer needs to place the order)
    use_flexibility : cover the expected deviation first with the flexibility left, and
        trade only the rest
    """

    deadband_mw: float = 0.1
    spread: Decimal = Decimal("5")
    gate_margin: timedelta = timedelta(minutes=1)
    use_flexibility: bool = True

    def __post_init__(self) -> None:
        if self.deadband_mw < 0 or self.spread < 0 or self.gate_margin < timedelta(0):
            raise ValueError("deadband_mw, spread and gate_margin must not be negative")


@dataclass(frozen=True)
class IntradayPlan:
    """Per future interval (``index``): the expected deviation, the part the flexibility
    left covers (``redispatch_mw``, a power change to add to the schedule: positive = more
    injection), the residual position (``residual_mw``: deviation after re-dispatch;
    negative = short), whether the interval's gate is still open, the volume ordered
    [MW, signed: positive = sell] and what stays open (``untraded_mw``, settled as imbalance).
    """

    index: pd.DatetimeIndex
    expected_mw: FloatArray
    redispatch_mw: FloatArray
    residual_mw: FloatArray
    gate_open: NDArray[np.bool_]
    traded_mw: FloatArray
    orders: tuple[OrderIntent, ...]

    @property
    def untraded_mw(self) -> FloatArray:
        """Residual not covered by an order [MW]."""
        return self.residual_mw - self.traded_mw


def intraday_product(market: Market, interval: timedelta) -> Product:
    """The market's product whose period equals the interval length."""
    minutes = interval / timedelta(minutes=1)
    for product in market.products:
        if product.period_min == minutes:
            return product
    periods = [p.period_min for p in market.products]
    raise ValueError(f"{market.code} has no {minutes:g}-min product; periods: {periods}")


def _gates(
    product: Product, index: pd.DatetimeIndex, now: datetime, margin: timedelta
) -> tuple[list[datetime], NDArray[np.bool_]]:
    closures: list[datetime] = []
    open_: list[bool] = []
    for start in index.to_pydatetime():
        closure = gate_closure(product, start)
        opening = gate_opening(product, start)
        closures.append(closure)
        open_.append((opening is None or opening <= now) and now + margin < closure)
    return closures, np.asarray(open_, dtype=bool)


def intraday_residual(
    index: pd.DatetimeIndex,
    expected_mw: FloatArray,
    now: datetime,
    market: Market,
    reference_price: FloatArray,
    *,
    up_mw: FloatArray | None = None,
    down_mw: FloatArray | None = None,
    policy: IntradayPolicy = IntradayPolicy(),
) -> IntradayPlan:
    """The residual position of future intervals and the intraday orders that close it.

    index : starts of the future intervals [UTC], one product period apart (15 or 60 min)
    expected_mw : ``(T,)`` expected deviation per interval [MW] (:func:`expected_deviation`)
    market : the intraday market (e.g. the ``EU-SIDC`` preset); its product of the interval's
        length, volume tick, minimum volume, price tick and limits apply
    reference_price : ``(T,)`` reference price per interval [currency/MWh]; NaN: not traded
    up_mw, down_mw : ``(T,)`` flexibility left per interval beyond the schedule [MW, >= 0];
        default none

    A shortfall (deviation < 0) is covered by up-flexibility, a surplus by down-flexibility;
    the residual is bought (short) or sold (long) in intervals whose gate is open at
    ``now + gate_margin``, rounded to the volume tick (half to even), when at least the
    deadband and the minimum order volume.
    """
    idx = index.tz_convert("UTC") if index.tz is not None else None
    if idx is None:
        raise ValueError("index must be tz-aware (UTC interval starts)")
    t = len(idx)
    dev = np.asarray(expected_mw, dtype=np.float64)
    price = np.asarray(reference_price, dtype=np.float64)
    if dev.shape != (t,) or price.shape != (t,):
        raise ValueError(f"expected_mw and reference_price must have shape ({t},)")
    step = _step(idx)
    product = intraday_product(market, step)
    now_utc = ensure_utc(now)
    up = np.zeros(t) if up_mw is None else np.clip(np.asarray(up_mw, np.float64), 0, None)
    down = np.zeros(t) if down_mw is None else np.clip(np.asarray(down_mw, np.float64), 0, None)
    if policy.use_flexibility:
        redispatch = np.where(dev < 0, np.minimum(-dev, up), -np.minimum(dev, down))
    else:
        redispatch = np.zeros(t)
    residual = dev + redispatch
    closures, gate_open = _gates(product, idx, now_utc, policy.gate_margin)
    lots = round_to_lots(-residual, market.volume_tick_mw, ties="even")  # + = buy
    volume = lots * float(market.volume_tick_mw)
    tradable = (
        gate_open
        & np.isfinite(price)
        & (np.abs(residual) >= policy.deadband_mw)
        & (np.abs(volume) >= float(market.min_order_volume_mw))
    )
    traded = np.where(tradable, -volume, 0.0)  # signed like the residual: positive = sell
    starts = idx.to_pydatetime()
    orders = tuple(
        _intent(
            market,
            product,
            starts[i],
            step,
            closures[i],
            float(dev[i]),
            int(lots[i]),
            float(price[i]),
            policy.spread,
        )
        for i in np.flatnonzero(tradable)
    )
    return IntradayPlan(idx, dev.copy(), redispatch, residual, gate_open, traded, orders)


def _step(idx: pd.DatetimeIndex) -> timedelta:
    if isinstance(idx.freq, pd.offsets.Tick):
        return pd.Timedelta(idx.freq).to_pytimedelta()
    if len(idx) >= 2:
        steps = np.diff(idx.as_unit("us").asi8)
        if np.all(steps == steps[0]):
            return timedelta(microseconds=int(steps[0]))
    raise ValueError("index must be regular (one product period apart), with a frequency")


def _intent(
    market: Market,
    product: Product,
    start: datetime,
    step: timedelta,
    closure: datetime,
    deviation: float,
    lots: int,
    price: float,
    spread: Decimal,
) -> OrderIntent:
    side = Side.BUY if lots > 0 else Side.SELL
    ref = Decimal(repr(price))
    limit = ref + spread if side is Side.BUY else ref - spread
    # a buyer's limit rounds down to the tick, a seller's up: never beyond the spread
    rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
    tick = market.price_tick
    limit = ((limit / tick).to_integral_value(rounding) * tick).quantize(tick)
    limit = min(max(limit, market.price_limits.min), market.price_limits.max)
    quantity = abs(lots) * market.volume_tick_mw
    word = "short" if side is Side.BUY else "long"
    return OrderIntent(
        market=market.code,
        product=product.code,
        delivery_start=start,
        delivery_end=start + step,
        side=side,
        quantity_mw=quantity,
        limit_price=limit,
        gate_closure=closure,
        expected_deviation_mw=deviation,
        reason=(
            f"expected deviation {deviation:+.3f} MW leaves the VPP {word} "
            f"{quantity} MW after re-dispatch; {side.value} at limit {limit}"
        ),
    )
