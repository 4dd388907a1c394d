"""Imbalance and real-time prices for settling deviations (pure, vectorized).

Conventions:

- **System imbalance** [MW] is positive when the system is **short** (consumption above
  generation: the TSO activates upward balancing energy), negative when it is long.
- **Deviation** of a balance group [MWh per interval] is positive for **more injection than
  scheduled** (the group is long) and negative for less (short).
- Prices are integer **ticks** of the market's ``price_tick`` [currency/MWh], as in
  :mod:`openvpp.markets.clearing.auction`; amounts are integer **minor currency units**
  (e.g. euro cents) and positive when the group **receives** money.

Synthetic model (:class:`ImbalanceModel`): an AR(1) system imbalance
``x[t] = persistence * x[t-1] + volatility_mw * e[t]`` with ``e`` standard normal from a seeded
``numpy.random.Generator`` and ``x[-1] = initial_mw``; the imbalance price is
``da + sign(x) * (base_spread + slope * |x|)`` rounded to the tick (half to even) and clipped to
the market's clearing limits.

- ``single`` pricing (one price for both directions, like the German reBAP): short and long
  deviations are both settled at that price.
- ``dual`` pricing: the side that worsens the system pays or receives the penalising price, the
  side that helps it gets the day-ahead price: ``short = max(da, p)`` and ``long = min(da, p)``,
  so ``short >= da >= long`` in every interval.

With ``base_spread = slope = 0`` both schemes give the day-ahead price.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from openvpp.core.money import Units, amounts
from openvpp.markets.calendar import DeliveryInterval

__all__ = [
    "ImbalanceModel",
    "ImbalancePrices",
    "PriceScheme",
    "align_to_grid",
    "imbalance_prices",
    "settle_deviations",
    "synthetic_imbalance_prices",
    "system_imbalance",
]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

_BLOCK = 128  # AR(1) filter block length (matrix size per block)


class PriceScheme(StrEnum):
    SINGLE = "single"
    DUAL = "dual"


@dataclass(frozen=True, slots=True)
class ImbalanceModel:
    """Parameters of the synthetic system imbalance and imbalance price.

    persistence : AR(1) coefficient per interval [1], in (-1, 1).
    volatility_mw : standard deviation of the AR(1) innovation per interval [MW], >= 0.
    initial_mw : system imbalance before the first interval [MW].
    base_spread : spread to the day-ahead price whenever the system is not balanced
        [currency/MWh], >= 0.
    slope : extra spread per MW of system imbalance [currency/MWh per MW], >= 0.
    scheme : single or dual pricing.
    """

    persistence: float = 0.8
    volatility_mw: float = 150.0
    initial_mw: float = 0.0
    base_spread: float = 10.0
    slope: float = 0.05
    scheme: PriceScheme = PriceScheme.SINGLE

    def __post_init__(self) -> None:
        if not -1.0 < self.persistence < 1.0:
            raise ValueError(f"persistence must lie in (-1, 1), got {self.persistence!r}")
        for name in ("volatility_mw", "base_spread", "slope"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        if not np.isfinite(self.initial_mw):
            raise ValueError(f"initial_mw must be finite, got {self.initial_mw!r}")
        PriceScheme(self.scheme)


@dataclass(frozen=True, slots=True)
class ImbalancePrices:
    """Prices per interval [ticks]: ``short`` settles negative deviations, ``long`` positive
    ones (equal under single pricing); ``single`` is the one-price value; ``system_mw`` the
    system imbalance used [MW]."""

    short: IntArray
    long: IntArray
    single: IntArray
    day_ahead: IntArray
    system_mw: FloatArray
    scheme: PriceScheme


# --------------------------------------------------------------------------- synthetic model


def _ar1(u: FloatArray, phi: float, x0: float) -> FloatArray:
    """``x[t] = phi * x[t-1] + u[t]`` with ``x[-1] = x0``, by blocks of lower-triangular
    matrix products (no loop over intervals); blocks are chained by the same filter on the
    block ends with coefficient ``phi**_BLOCK``."""
    n = u.size
    size = min(n, _BLOCK)
    j = np.arange(size)
    lag = j[:, None] - j[None, :]
    filt = np.where(lag >= 0, float(phi) ** np.maximum(lag, 0), 0.0)
    rise = float(phi) ** (j + 1.0)
    if n <= _BLOCK:
        return np.asarray(filt @ u + rise * x0, dtype=np.float64)
    blocks = -(-n // _BLOCK)
    padded = np.zeros(blocks * _BLOCK)
    padded[:n] = u
    local = padded.reshape(blocks, _BLOCK) @ filt.T  # zero initial state per block
    ends = _ar1(local[:, -1].copy(), float(phi) ** _BLOCK, x0)
    start = np.concatenate(([x0], ends[:-1]))
    return np.asarray((local + start[:, None] * rise[None, :]).ravel()[:n], dtype=np.float64)


def system_imbalance(n_intervals: int, model: ImbalanceModel, *, seed: int) -> FloatArray:
    """Synthetic system imbalance [MW] per interval, positive = system short; deterministic
    for a seed."""
    if n_intervals < 0:
        raise ValueError(f"n_intervals must be >= 0, got {n_intervals}")
    rng = np.random.default_rng(seed)
    shocks = model.volatility_mw * rng.standard_normal(n_intervals)
    if n_intervals == 0:
        return np.zeros(0)
    return _ar1(shocks, model.persistence, model.initial_mw)


def _ticks(values: ArrayLike, name: str) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.array_equal(arr, np.rint(arr)):
        return arr.astype(np.int64)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    raise ValueError(f"{name} must be whole ticks without gaps")


def imbalance_prices(
    day_ahead: ArrayLike,
    system_mw: ArrayLike,
    model: ImbalanceModel,
    *,
    price_tick: Decimal | float,
    price_min: int,
    price_max: int,
) -> ImbalancePrices:
    """Imbalance prices [ticks] from day-ahead prices [ticks] and a system imbalance [MW].

    price_tick : the market's price tick [currency/MWh], converts the model's spreads.
    price_min, price_max : the market's clearing limits [ticks]; day-ahead prices must lie
        within them, imbalance prices are clipped to them.
    """
    da = _ticks(day_ahead, "day_ahead")
    imb = np.asarray(system_mw, dtype=np.float64)
    if imb.shape != da.shape:
        raise ValueError(f"system_mw has shape {imb.shape}, day_ahead {da.shape}")
    if not np.all(np.isfinite(imb)):
        raise ValueError("system_mw must be finite")
    if not float(price_tick) > 0:
        raise ValueError(f"price_tick must be positive, got {price_tick!r}")
    lo, hi = int(price_min), int(price_max)
    if da.size and (int(da.min()) < lo or int(da.max()) > hi):
        raise ValueError(f"day_ahead outside the clearing limits [{lo}, {hi}] ticks")
    spread = np.rint((model.base_spread + model.slope * np.abs(imb)) / float(price_tick))
    single = np.clip(da + np.sign(imb).astype(np.int64) * spread.astype(np.int64), lo, hi)
    if PriceScheme(model.scheme) is PriceScheme.SINGLE:
        short = long = single
    else:
        short, long = np.maximum(da, single), np.minimum(da, single)
    return ImbalancePrices(
        short=short.copy(),
        long=long.copy(),
        single=single,
        day_ahead=da,
        system_mw=imb.copy(),
        scheme=PriceScheme(model.scheme),
    )


def synthetic_imbalance_prices(
    day_ahead: ArrayLike,
    model: ImbalanceModel,
    *,
    seed: int,
    price_tick: Decimal | float,
    price_min: int,
    price_max: int,
) -> ImbalancePrices:
    """:func:`system_imbalance` for the horizon of ``day_ahead`` [ticks], priced by
    :func:`imbalance_prices`; deterministic for a seed."""
    da = _ticks(day_ahead, "day_ahead")
    imb = system_imbalance(da.size, model, seed=seed)
    return imbalance_prices(
        da, imb, model, price_tick=price_tick, price_min=price_min, price_max=price_max
    )


# ----------------------------------------------------------------------------------- history


def align_to_grid(
    prices: pd.Series,
    intervals: Sequence[DeliveryInterval],
    *,
    source_period_min: int | None = None,
) -> FloatArray:
    """Time-weighted mean of a price series over each settlement interval [currency/MWh].

    prices : values [currency/MWh] indexed by tz-aware interval starts; each value holds for
        ``source_period_min`` minutes (default: the most common spacing of the index). NaN
        values count as gaps. 5-min prices become 15-min means; hourly prices repeat.
    intervals : the settlement grid, e.g. :func:`~openvpp.markets.calendar.delivery_intervals`.

    ``ValueError`` for a naive index, duplicate or overlapping source intervals, and any
    settlement interval not fully covered by source intervals (naming the first one).
    """
    index = prices.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError("prices must be indexed by tz-aware interval starts")
    if index.has_duplicates:
        dup = index[index.duplicated()]
        raise ValueError(f"duplicate price intervals: {[t.isoformat() for t in dup[:5]]}")
    if not intervals:
        return np.zeros(0)
    origin = pd.Timestamp(intervals[0].start_utc)
    minute = pd.Timedelta(minutes=1)
    start = np.asarray((index.tz_convert("UTC") - origin) / minute, dtype=np.float64)
    order = np.argsort(start, kind="stable")
    start = start[order]
    values = np.asarray(prices.to_numpy(dtype=np.float64, na_value=np.nan))[order]
    if source_period_min is None:
        diffs = np.diff(start)
        if diffs.size == 0:
            raise ValueError("give source_period_min: one value does not tell its period")
        steps, counts = np.unique(diffs, return_counts=True)
        period = float(steps[np.argmax(counts)])
    else:
        period = float(source_period_min)
    if not period > 0:
        raise ValueError(f"source period must be positive, got {period}")
    end = start + period
    if np.any(start[1:] < end[:-1]):
        raise ValueError(f"source intervals of {period:g} min overlap")
    ok = np.isfinite(values)
    start, end, values = start[ok], end[ok], values[ok]
    a = np.array([(iv.start_utc - origin) / minute for iv in intervals], dtype=np.float64)
    b = np.array([(iv.end_utc - origin) / minute for iv in intervals], dtype=np.float64)
    # Uncovered stretches: before the first source interval, between two, after the last.
    gap_lo = np.concatenate(([-np.inf], end))
    gap_hi = np.concatenate((start, [np.inf]))
    real = gap_hi > gap_lo
    gap_lo, gap_hi = gap_lo[real], gap_hi[real]
    k = np.searchsorted(gap_lo, b, side="left") - 1  # last gap starting before b
    hit = (k >= 0) & (gap_hi[np.maximum(k, 0)] > a)
    if np.any(hit):
        first = int(np.flatnonzero(hit)[0])
        raise ValueError(
            f"no price for all of the settlement interval starting "
            f"{intervals[first].start_utc.isoformat()} ({int(hit.sum())} intervals not covered)"
        )
    # Integral of the step function at the knots start[j], end[j]; linear in between.
    area = values * (end - start)
    f_end = np.cumsum(area)
    f_start = f_end - area
    knots = np.column_stack((start, end)).ravel()
    f = np.column_stack((f_start, f_end)).ravel()
    return np.asarray((np.interp(b, knots, f) - np.interp(a, knots, f)) / (b - a))


# -------------------------------------------------------------------------------- settlement


def settle_deviations(
    deviation_mwh: ArrayLike,
    prices: ImbalancePrices,
    *,
    price_tick: Decimal,
    minor_unit: Decimal = Decimal("0.01"),
    energy_step_mwh: Decimal = Decimal("0.001"),
) -> IntArray:
    """Amount per interval [minor currency units], positive = the balance group receives.

    deviation_mwh : actual minus scheduled energy per interval [MWh], positive = more injection
        than scheduled. Rounded to ``energy_step_mwh`` (half to even) before pricing.
    prices : positive deviations are paid the ``long`` price, negative ones pay the ``short``
        price [ticks]: amount = deviation x price.
    price_tick : the market's price tick [currency/MWh]; ``minor_unit`` [currency], e.g. 0.01.

    Exact: ``deviation steps x price ticks`` is an integer product; it is converted to minor
    units with one rounding per interval, half to even.
    """
    dev = np.asarray(deviation_mwh, dtype=np.float64)
    if dev.shape != prices.short.shape:
        raise ValueError(f"deviation_mwh has shape {dev.shape}, prices {prices.short.shape}")
    units = Units(
        energy_step_mwh=Decimal(energy_step_mwh),
        price_tick=Decimal(price_tick),
        minor_unit=Decimal(minor_unit),
    )
    steps = units.energy(dev, name="deviation_mwh")
    price = np.where(steps > 0, prices.long, prices.short)
    return amounts(steps, price, units, name="deviation_mwh x price")
