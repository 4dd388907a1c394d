"""The whole trading and dispatch loop, day by day, in accelerated time on the simulated
exchange against real historical prices:

forecast → optimise → bid → clear → dispatch → telemetry → correction → settle.

For each local delivery day D of the test period:

1. **Forecast.** The day's p10/p50/p90 prices come from the project's own day-ahead forecaster,
   recalibrated on the data before D (the epftoolbox protocol, leak-free: computed up front by
   :func:`~openvpp.forecasting.price.runner.run_benchmark`).
2. **Optimise and bid** before the gate closure of D (minus a safety margin) from the stored
   energy the plant really has: ``schedule`` bids the optimal schedule at the median forecast as
   price-taking orders; ``curve`` bids price-quantity curves coupled across the day's
   intervals by a two-stage stochastic LP over price paths (:mod:`openvpp.optimization.coupled`).
3. **Clear.** The simulated exchange clears the day against the historical prices (replay,
   price taker), and the fills give the award.
4. **Dispatch and deliver.** The award is disaggregated over the fleet and followed by the
   digital twin (battery physics, tracking noise, faults) on the market's settlement grid.
5. **Correct.** Within each delivery interval, after each settlement step, the remaining
   flexibility is re-dispatched to cancel the deviation so far
   (:func:`~openvpp.dispatch.correction.within_interval`) when that needs at least the live
   dispatch's deadband (``correction_deadband_mw``); before each interval the rest of the
   day's award is checked against the energy the batteries really hold, and what they can no
   longer deliver is traded on the intraday market (a price-taking intraday venue at the
   day-ahead price plus or minus a spread).
6. **Settle.** Award at the clearing price, intraday trades at their price, and the metered
   deviation from the final position at the exchange's imbalance prices.

The **perfect-foresight optimum** solves the same days with the real prices, from its own
state of charge chain, with the same end-of-day energy target; the **capture ratio** is the
loop's revenue over that optimum's.

Money in [currency], energy [MWh], power [MW] with injection positive.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.dispatch.correction import CORRECTION_DEADBAND_MW, within_interval
from openvpp.forecasting.price.data import DayMatrix
from openvpp.forecasting.price.lear import LearConfig
from openvpp.forecasting.price.runner import run_benchmark
from openvpp.markets.calendar import delivery_intervals, gate_closure
from openvpp.markets.exchange import NewOrder, SimulatedExchange, TradeSide
from openvpp.markets.model import Market, Product
from openvpp.optimization.ladders import round_to_lots
from openvpp.optimization.schedule import ScheduleMarket as PriceMarket
from openvpp.optimization.schedule import optimize_schedule
from openvpp.optimization.units import StorageUnit
from openvpp.resources.models.battery import BatterySpec
from openvpp.trading.autobid import curve_bids

__all__ = [
    "DEMO_BATTERY",
    "DayRecord",
    "SimulationConfig",
    "SimulationResult",
    "Strategy",
    "run_days",
]

FloatArray = NDArray[np.float64]
Strategy = Literal["schedule", "curve"]

# The demo park's Battery A (src/openvpp/demo/park.py): 4 MWh, 2 MW, 95 % each way.
DEMO_BATTERY = BatterySpec(4.0, 2.0, 2.0, 0.95, 0.95, 0.05, 0.95)
ACCOUNT = "simulation"
SELECT_EVERY = 7  # LEAR penalty re-selection [days], as `openvpp forecast benchmark` defaults
CONTROL_STEP_MIN = 5  # the longest step between corrections within a settlement period [min]


@dataclass(frozen=True)
class SimulationConfig:
    """How the loop runs.

    batteries : the fleet (the demo battery by default).
    end_soc : stored energy to hold at each day's end, fraction of capacity (soft target, the
        same for the loop and the perfect-foresight optimum).
    degradation_cost : [currency/MWh] of throughput, in both optimisations.
    gate_margin : bids are submitted this long before the gate closure.
    tracking_noise : standard deviation of the twin's tracking error, fraction of its power
        rating, per settlement step.
    fault_rate : probability per day that a device faults; a fault lasts 1-6 hours.
    intraday_spread : the intraday venue buys at the day-ahead price plus this and sells at
        it minus this [currency/MWh].
    correction : re-dispatch within intervals and trade the residual intraday.
    correction_deadband_mw : a within-interval correction needing a power change below this
        [MW] is left alone, as by the live dispatch (``DispatchPolicy.deadband_mw``, setting
        ``dispatch_deadband_mw``). Chasing the twin's zero-mean tracking and measurement noise
        cycles energy through the battery's losses: a battery held at 0 MW that is re-dispatched
        by a few hundredths of a MW each step charges and discharges in turn, at 95 % each way.
    """

    market: str = "EU-SDAC"
    product: str = "H"
    strategy: Strategy = "schedule"
    batteries: tuple[BatterySpec, ...] = (DEMO_BATTERY,)
    end_soc: float = 0.5
    degradation_cost: float = 0.0
    gate_margin: timedelta = timedelta(minutes=30)
    tracking_noise: float = 0.005
    fault_rate: float = 0.02
    intraday_spread: float = 5.0
    correction: bool = True
    correction_deadband_mw: float = CORRECTION_DEADBAND_MW
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.batteries:
            raise ValueError("batteries must name at least one battery")
        if not 0.0 <= self.end_soc <= 1.0:
            raise ValueError(f"end_soc must lie in [0, 1], got {self.end_soc}")
        for name in (
            "degradation_cost",
            "tracking_noise",
            "fault_rate",
            "intraday_spread",
            "correction_deadband_mw",
        ):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if self.fault_rate > 1:
            raise ValueError(f"fault_rate must lie in [0, 1], got {self.fault_rate}")
        if self.strategy not in ("schedule", "curve"):
            raise ValueError(f"strategy must be schedule or curve, got {self.strategy!r}")


@dataclass(frozen=True)
class DayRecord:
    """One delivery day's outcome [currency], [MWh]."""

    day: date
    day_ahead_revenue: float
    intraday_revenue: float
    imbalance_revenue: float
    imbalance_mwh: float  # Σ |metered - final position| over settlement intervals
    corrected_mwh: float  # energy moved by within-interval corrections
    intraday_mwh: float  # Σ |intraday trades|
    awarded_mwh: float  # Σ |award|
    perfect_revenue: float
    faults: int
    forecast_mae: float

    @property
    def revenue(self) -> float:
        return self.day_ahead_revenue + self.intraday_revenue + self.imbalance_revenue


@dataclass(frozen=True)
class SimulationResult:
    """The run's days and totals."""

    days: tuple[DayRecord, ...]
    wall_time_s: float
    forecast_time_s: float
    strategy: str
    market: str
    product: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def revenue(self) -> float:
        return float(sum(d.revenue for d in self.days))

    @property
    def perfect_revenue(self) -> float:
        return float(sum(d.perfect_revenue for d in self.days))

    @property
    def capture_ratio(self) -> float:
        """Revenue over the perfect-foresight optimum's (NaN when that is not positive)."""
        best = self.perfect_revenue
        return self.revenue / best if best > 0 else float("nan")

    def summary(self) -> dict[str, float | int | str]:
        def total(name: str) -> float:
            return round(float(sum(getattr(d, name) for d in self.days)), 4)

        return {
            "days": len(self.days),
            "market": self.market,
            "product": self.product,
            "strategy": self.strategy,
            "revenue": round(self.revenue, 2),
            "day_ahead_revenue": round(total("day_ahead_revenue"), 2),
            "intraday_revenue": round(total("intraday_revenue"), 2),
            "imbalance_revenue": round(total("imbalance_revenue"), 2),
            "perfect_foresight_revenue": round(self.perfect_revenue, 2),
            "capture_ratio": round(self.capture_ratio, 4),
            "imbalance_mwh": total("imbalance_mwh"),
            "intraday_mwh": total("intraday_mwh"),
            "corrected_mwh": total("corrected_mwh"),
            "awarded_mwh": total("awarded_mwh"),
            "faults": int(sum(d.faults for d in self.days)),
            "forecast_mae": round(float(np.mean([d.forecast_mae for d in self.days])), 4),
            "wall_time_s": round(self.wall_time_s, 2),
            "forecast_time_s": round(self.forecast_time_s, 2),
        }


def config_zone(config: SimulationConfig) -> str:
    """The time zone of ``config``'s market (ValueError for an unknown market)."""
    from openvpp.markets.presets import load_presets

    markets = load_presets()
    if config.market not in markets:
        raise ValueError(f"unknown market {config.market!r}; known: {sorted(markets)}")
    return markets[config.market].time_zone


# ------------------------------------------------------------------------- optimisation


def _target_energy(config: SimulationConfig) -> FloatArray:
    """Each battery's energy at the end-of-day target [MWh]."""
    return np.array([config.end_soc * s.energy_mwh for s in config.batteries])


def _units(
    specs: Sequence[BatterySpec], energy: FloatArray, end_soc: float, degradation: float
) -> list[StorageUnit]:
    return [
        StorageUnit(
            spec,
            float(np.clip(e, spec.soc_min * spec.energy_mwh, spec.soc_max * spec.energy_mwh)),
            end_energy_mwh=end_soc * spec.energy_mwh,
            degradation_cost=degradation,
        )
        for spec, e in zip(specs, energy, strict=True)
    ]


def optimal_plan(
    specs: Sequence[BatterySpec],
    energy: FloatArray,
    prices: FloatArray,
    dt_h: float,
    end_soc: float,
    degradation: float,
    probabilities: FloatArray | None = None,
) -> tuple[FloatArray, float]:
    """The fleet's optimal net schedule (T,) [MW] and its expected revenue [currency] under
    ``prices`` ((T,) or scenarios (S, T)) from the stored energies ``energy`` [MWh]."""
    units = _units(specs, energy, end_soc, degradation)
    result = optimize_schedule(units, PriceMarket(prices, dt_h, probabilities=probabilities))
    return result.total_mw, result.expected_revenue


# ------------------------------------------------------------------------- exchange


class ManualClock:
    """The simulation's clock: set, never read from the wall."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def set(self, now: datetime) -> None:
        self._now = now


def schedule_orders(
    market: Market,
    product: Product,
    starts: Sequence[datetime],
    schedule_mw: FloatArray,
    prefix: str,
) -> list[NewOrder]:
    """Price-taking orders for a net schedule: sell at the price floor, buy at the cap, in
    whole lots; intervals below one lot get no order."""
    tick = market.volume_tick_mw
    limits = market.price_limits
    n_lots = round_to_lots(schedule_mw, tick, ties="away")
    out: list[NewOrder] = []
    for i, (start, n) in enumerate(zip(starts, n_lots, strict=True)):
        if n == 0:
            continue
        side = TradeSide.SELL if n > 0 else TradeSide.BUY
        price = Decimal(str(limits.min)) if n > 0 else Decimal(str(limits.max))
        out.append(
            NewOrder(
                f"{prefix}-{i:03d}",
                market.code,
                product.code,
                start,
                side,
                price,
                abs(int(n)) * tick,
            )
        )
    return out


def curve_orders(
    market: Market,
    product: Product,
    day: date,
    quantiles: FloatArray,
    energy: FloatArray,
    config: SimulationConfig,
    prefix: str,
) -> list[NewOrder]:
    """Limit orders along the fleet's bid curves, by the live loop's ``curve`` strategy
    (:func:`~openvpp.trading.autobid.curve_bids`): curves coupled across the day that do best
    over price paths drawn around the p10/p50/p90 forecasts ``quantiles (T, 3)``
    [currency/MWh], with what the batteries cannot deliver corrected at the intraday venue's
    spread."""
    units = _units(config.batteries, energy, config.end_soc, config.degradation_cost)
    _, requests = curve_bids(
        units, quantiles, market, product, day, prefix, recourse_spread=config.intraday_spread
    )
    return [
        NewOrder(
            o.client_order_id,
            o.market,
            o.product,
            o.delivery_start,
            TradeSide(o.side.value),
            o.price,
            o.quantity_mw,
        )
        for o in requests
    ]


def award(
    exchange: SimulatedExchange, market: str, product: str, day: date, starts: Sequence[datetime]
) -> tuple[FloatArray, FloatArray]:
    """Net awarded power (T,) [MW, sale positive] and clearing prices (T,) [currency/MWh] of
    the simulation's account on the local ``day``."""
    result = exchange.run_auction(market, product, day)
    position = dict.fromkeys(starts, 0.0)
    for o in exchange.orders(ACCOUNT):
        if o.market != market or o.product != product or o.delivery_start not in position:
            continue
        sign = 1.0 if o.side is TradeSide.SELL else -1.0
        position[o.delivery_start] += sign * float(o.filled_mw)
    prices = np.array([float(p.price) if p.price is not None else np.nan for p in result.periods])
    return np.array([position[s] for s in starts]), prices


Progress = Callable[[int], None]


# ------------------------------------------------------------------------- the plant


class Plant(Protocol):
    """The fleet as the loop sees it: what it holds and what it delivers."""

    def energy_mwh(self) -> FloatArray:
        """Stored energy of each battery now [MWh]."""
        ...

    def limits(self) -> tuple[FloatArray, FloatArray]:
        """Each device's feasible power now, ``(p_min, p_max)`` [MW] (0, 0 in fault)."""
        ...

    def deliver(self, start: datetime, setpoints_mw: FloatArray, dt_h: float) -> FloatArray:
        """Follow ``setpoints_mw`` for ``dt_h`` from ``start``; the metered average powers
        [MW] of the step."""
        ...

    def faults(self) -> int:
        """Faults so far."""
        ...


# ------------------------------------------------------------------------- the loop


@dataclass(frozen=True)
class PriceDays:
    """The test period: real prices and leak-free forecasts, 24 hourly values per day.

    dates : ``(N,)`` local delivery days; actual : ``(N, 24)`` [currency/MWh]; quantiles :
    ``(N, 24, 3)`` p10/p50/p90 forecasts [currency/MWh] issued before each day.
    """

    dates: NDArray[np.datetime64]
    actual: FloatArray
    quantiles: FloatArray

    def __post_init__(self) -> None:
        n = len(self.dates)
        if self.actual.shape != (n, 24) or self.quantiles.shape != (n, 24, 3):
            raise ValueError(
                f"{n} days need actual (N, 24) and quantiles (N, 24, 3), got "
                f"{self.actual.shape} and {self.quantiles.shape}"
            )


def _preset(config: SimulationConfig) -> tuple[dict[str, Market], Market, Product]:
    """The market presets, ``config``'s market and its product."""
    from openvpp.markets.presets import load_presets

    markets = load_presets()
    if config.market not in markets:
        raise ValueError(f"unknown market {config.market!r}; known: {sorted(markets)}")
    market = markets[config.market]
    return markets, market, market.product(config.product)


def build_exchange(
    config: SimulationConfig, prices: PriceDays
) -> tuple[SimulatedExchange, ManualClock]:
    """The simulated exchange clearing ``config``'s product against the real prices."""
    from openvpp.simulation.history import to_series

    markets, market, product = _preset(config)
    first = pd.Timestamp(prices.dates[0]).date()
    clock = ManualClock(
        datetime.combine(first - timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    )
    exchange = SimulatedExchange(markets, clock, api_keys={"simulation": ACCOUNT})
    exchange.set_replay(market.code, product.code, to_series(product, prices.dates, prices.actual))
    return exchange, clock


def whole_period_optimum(prices: PriceDays, config: SimulationConfig) -> float:
    """The perfect-foresight revenue of ``config``'s batteries over the whole period as one
    schedule [currency]: they start and end the period at ``end_soc`` and are free in between,
    whereas the day-by-day optimum the capture ratio is measured against returns to ``end_soc``
    every midnight, as the loop's plans do. The difference is what that daily target costs."""
    from openvpp.simulation.history import day_values

    _, _, product = _preset(config)
    real = np.concatenate(
        [
            day_values(product, pd.Timestamp(d).date(), row).to_numpy()
            for d, row in zip(prices.dates, prices.actual, strict=True)
        ]
    )
    units = _units(
        config.batteries, _target_energy(config), config.end_soc, config.degradation_cost
    )
    dt_h = product.period_min / 60
    best = optimize_schedule(units, PriceMarket(real, dt_h))
    return float(best.total_mw @ real * dt_h) - best.degradation_cost


def run_days(
    prices: PriceDays,
    config: SimulationConfig,
    plant: Plant,
    *,
    bidder: Callable[..., list[NewOrder]] | None = None,
    progress: Progress | None = None,
) -> list[DayRecord]:
    """Run the loop over every day of ``prices`` with ``plant`` as the fleet."""
    from openvpp.simulation.history import day_values

    exchange, clock = build_exchange(config, prices)
    market = exchange.markets[config.market]
    product = market.product(config.product)
    specs = config.batteries
    dt_h = product.period_min / 60
    pf_energy = _target_energy(config)
    records: list[DayRecord] = []
    for i, d64 in enumerate(prices.dates):
        day = pd.Timestamp(d64).date()
        intervals = delivery_intervals(product, day)
        starts = [iv.start_utc for iv in intervals]
        q = day_values(product, day, prices.quantiles[i]).to_numpy()  # (T, 3)
        real = day_values(product, day, prices.actual[i]).to_numpy()
        energy = plant.energy_mwh()
        clock.set(gate_closure(product, starts[0]) - config.gate_margin)
        prefix = f"D{day:%Y%m%d}"
        if config.strategy == "curve" and bidder is None:
            orders = curve_orders(market, product, day, q, energy, config, prefix)
        elif config.strategy == "schedule" or bidder is None:
            plan, _ = optimal_plan(
                specs, energy, q[:, 1], dt_h, config.end_soc, config.degradation_cost
            )
            orders = schedule_orders(market, product, starts, plan, prefix)
        else:
            orders = bidder(market, product, starts, q, energy, prefix)
        for order in orders:
            exchange.submit(ACCOUNT, order)
        awarded, clearing = award(exchange, market.code, product.code, day, starts)
        da_revenue = float(np.nansum(awarded * clearing) * dt_h)
        record = _deliver(
            exchange,
            clock,
            market,
            product,
            day,
            starts,
            awarded,
            clearing,
            config,
            plant,
        )
        pf_units = _units(specs, pf_energy, config.end_soc, config.degradation_cost)
        pf = optimize_schedule(pf_units, PriceMarket(real, dt_h))
        pf_energy = pf.energy_mwh[:, -1].copy()
        records.append(
            DayRecord(
                day=day,
                day_ahead_revenue=da_revenue,
                intraday_revenue=record[0],
                imbalance_revenue=record[1],
                imbalance_mwh=record[2],
                corrected_mwh=record[3],
                intraday_mwh=record[4],
                awarded_mwh=float(np.abs(awarded).sum() * dt_h),
                perfect_revenue=float(pf.total_mw @ real * dt_h) - pf.degradation_cost,
                faults=record[5],
                forecast_mae=float(np.mean(np.abs(prices.quantiles[i, :, 1] - prices.actual[i]))),
            )
        )
        if progress is not None:
            progress(i)
    return records


def _ratings(specs: Sequence[BatterySpec]) -> FloatArray:
    return np.array([s.p_discharge_max_mw + s.p_charge_max_mw for s in specs], dtype=np.float64)


def feasible_rest(
    specs: Sequence[BatterySpec], energy: FloatArray, position_mw: FloatArray, dt_h: float
) -> FloatArray:
    """What the fleet can deliver of ``position_mw`` (T,) [MW] from the stored energies
    ``energy`` [MWh], each battery taking its rating's share (T,) [MW]."""
    from openvpp.resources.models.battery import clip_to_feasible

    share = _ratings(specs) / _ratings(specs).sum()
    return np.asarray(
        sum(
            clip_to_feasible(spec, position_mw * w, float(e), dt_h)
            for spec, w, e in zip(specs, share, energy, strict=True)
        ),
        dtype=np.float64,
    )


def _deliver(
    exchange: SimulatedExchange,
    clock: ManualClock,
    market: Market,
    product: Product,
    day: date,
    starts: Sequence[datetime],
    awarded: FloatArray,
    clearing: FloatArray,
    config: SimulationConfig,
    plant: Plant,
) -> tuple[float, float, float, float, float, int]:
    """Deliver one day: ``(intraday revenue, imbalance revenue, imbalance MWh, corrected
    MWh, intraday MWh, faults)``."""
    specs = config.batteries
    # Deviations settle per settlement period (within a product interval): each is corrected
    # on its own, in control steps of at most CONTROL_STEP_MIN minutes.
    period_min = math.gcd(product.period_min, market.settlement.period_min)
    step_min = math.gcd(period_min, CONTROL_STEP_MIN)
    periods, k = product.period_min // period_min, period_min // step_min
    step_h, dt_h, period_h = step_min / 60, product.period_min / 60, period_min / 60
    period = timedelta(minutes=period_min)
    imbalance = exchange.imbalance_prices(market.code, day)
    settle_starts = np.array([p.delivery_start.timestamp() for p in imbalance.periods])
    short = np.array([float(p.short_price) for p in imbalance.periods])
    long = np.array([float(p.long_price) for p in imbalance.periods])
    eta_c = np.array([s.eta_charge for s in specs])
    eta_d = np.array([s.eta_discharge for s in specs])
    e_lo = np.array([s.soc_min * s.energy_mwh for s in specs])
    e_hi = np.array([s.soc_max * s.energy_mwh for s in specs])
    position = awarded.astype(np.float64).copy()
    intraday_revenue = intraday_mwh = corrected = imb_revenue = imb_mwh = 0.0
    faults = plant.faults()
    tick = float(market.volume_tick_mw)
    setpoints = np.zeros(len(specs))
    for t, start in enumerate(starts):
        if config.correction and t + 1 < len(starts):
            # The rest of the day with the energy held now: trade what cannot be delivered.
            can = feasible_rest(specs, plant.energy_mwh(), position[t:], dt_h)[1:]
            n = round_to_lots(can - position[t + 1 :], market.volume_tick_mw, ties="away")
            if n.any():
                volume = n * tick
                ref = clearing[t + 1 :]
                price = np.where(
                    volume > 0, ref - config.intraday_spread, ref + config.intraday_spread
                )
                intraday_revenue += float(volume @ price * dt_h)
                intraday_mwh += float(np.abs(volume).sum() * dt_h)
                position[t + 1 :] += volume
        for u in range(periods):
            period_start = start + u * period
            delivered = 0.0
            for j in range(k):
                step_start = period_start + timedelta(minutes=j * step_min)
                if j == 0 or config.correction:
                    lo, hi = plant.limits()
                    energy = plant.energy_mwh()
                    expected = np.clip(setpoints, lo, hi) if j else np.zeros(len(specs))
                    c = within_interval(
                        position[t] * period_h,
                        delivered,
                        period,
                        j / k,
                        expected,
                        lo,
                        hi,
                        energy_up_mwh=np.clip(energy - e_lo, 0, None) * eta_d,
                        energy_down_mwh=np.clip(e_hi - energy, 0, None) / eta_c,
                        # the first step dispatches the position itself, whatever its size
                        deadband_mw=config.correction_deadband_mw if j else 0.0,
                    )
                    if j > 0:
                        corrected += float(np.abs(c.delta_mw).sum() * step_h * (k - j))
                    setpoints = np.asarray(c.setpoint_mw, dtype=np.float64)
                clock.set(step_start)
                metered = plant.deliver(step_start, setpoints, step_h)
                delivered += float(metered.sum()) * step_h
            s = np.searchsorted(settle_starts, period_start.timestamp(), side="right") - 1
            deviation = delivered - position[t] * period_h
            imb_revenue += deviation * (long[s] if deviation > 0 else short[s])
            imb_mwh += abs(deviation)
    return (
        intraday_revenue,
        imb_revenue,
        imb_mwh,
        corrected,
        intraday_mwh,
        plant.faults() - faults,
    )


def forecast_days(
    dm: DayMatrix,
    days: int,
    *,
    model: str = "ensemble",
    progress: Progress | None = None,
) -> tuple[PriceDays, float]:
    """Leak-free p10/p50/p90 forecasts of the last ``days`` days of ``dm`` with daily
    recalibration (each day from the data before it), and the time they took [s]."""
    config = LearConfig(select_every=SELECT_EVERY)
    result = run_benchmark(
        dm,
        model=model,  # type: ignore[arg-type]
        test_days=days,
        config=config,
        progress=progress,
    )
    return PriceDays(result.dates, result.actual, result.quantiles), result.wall_time_s


def simulate(
    prices: PriceDays,
    config: SimulationConfig,
    plant: Plant,
    *,
    forecast_time_s: float = 0.0,
    bidder: Callable[..., list[NewOrder]] | None = None,
    progress: Progress | None = None,
) -> SimulationResult:
    """Run the loop over ``prices`` and total it."""
    started = time.perf_counter()
    records = run_days(prices, config, plant, bidder=bidder, progress=progress)
    return SimulationResult(
        days=tuple(records),
        wall_time_s=time.perf_counter() - started,
        forecast_time_s=forecast_time_s,
        strategy=config.strategy,
        market=config.market,
        product=config.product,
    )
