"""``HistoricalRiskModel``: the risk model of the registry (``kind = ModelKind.RISK``).

``fit`` learns, per local interval of the day (``tz``), the distribution of the price's
deviation from its expectation over the last ``window_days`` days: from the ``forecast``
column when the history has one (the price forecast known before each interval), else from
the price of the same interval the day before (persistence). It also fixes the spike
``threshold`` (default: the ``spike_quantile`` of the training prices) and the spike
frequency of each interval of the day.

``predict`` gives ``p10``/``p50``/``p90`` prices [currency/MWh] = expectation (the
``forecast`` column over the horizon, else the last known price of the same interval of the
day) + the deviation quantiles of the interval, and ``spike_prob``, the probability that the
price exceeds the threshold.

``assess`` measures the risk of a schedule [MWh per interval, positive = sale] as a
``RiskReport``, by historical simulation (past days' deviations applied to today's
expectation, blocks of consecutive days for multi-day schedules, optional half-life weights)
or from a quantile forecast (``openvpp.forecasting.risk.quantile``: a Gaussian copula whose
correlation is that of the historical deviations, or one common factor ``correlation``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.forecasting.protocol import TARGET, ModelKind, check_history, quantile_frame
from openvpp.forecasting.risk.historical import scenario_spike_probability
from openvpp.forecasting.risk.measures import decay_weights, var_cvar
from openvpp.forecasting.risk.quantile import (
    Tail,
    normal_scores_correlation,
    quantile_mean,
    quantile_price_scenarios,
    spike_probability,
)

__all__ = ["FORECAST", "HistoricalRiskModel", "RiskReport"]

FORECAST = "forecast"
Method = Literal["historical", "quantile"]
FloatArray = NDArray[np.float64]
_LEVEL = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")


@dataclass(frozen=True)
class RiskReport:
    """Risk of a schedule. Money in [currency], loss = expected P&L - P&L.

    expected_pnl : expected revenue ``sum_t v_t * price_t`` [currency].
    var, cvar : value at risk and conditional value at risk at ``alpha`` [currency].
    method : ``historical`` or ``quantile``; n_scenarios : scenarios behind the figures.
    threshold : spike threshold [currency/MWh]; spike_prob : ``P(price_t > threshold)`` per
    interval of the schedule [0..1]; spike_prob_max : probability that any interval spikes.
    """

    expected_pnl: float
    var: float
    cvar: float
    alpha: float
    method: Method
    n_scenarios: int
    threshold: float
    spike_prob: pd.Series
    spike_prob_max: float


class HistoricalRiskModel:
    """Price risk from historical deviations (see the module docstring). Picklable."""

    kind = ModelKind.RISK

    def __init__(
        self,
        alpha: float = 0.95,
        threshold: float | None = None,
        half_life_days: float | None = None,
        tz: str = "UTC",
        *,
        window_days: int | None = 365,
        spike_quantile: float = 0.95,
        n_scenarios: int = 10_000,
        correlation: float | None = None,
        seed: int = 0,
        tail: Tail = "exponential",
        prior_days: float = 5.0,
    ) -> None:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
        if threshold is not None and not np.isfinite(threshold):
            raise ValueError(f"threshold must be finite, got {threshold!r}")
        if half_life_days is not None and not half_life_days > 0:
            raise ValueError(f"half_life_days must be positive, got {half_life_days!r}")
        if window_days is not None and window_days < 2:
            raise ValueError(f"window_days must be at least 2, got {window_days!r}")
        if not 0 < spike_quantile < 1:
            raise ValueError(f"spike_quantile must be in (0, 1), got {spike_quantile!r}")
        if n_scenarios < 1:
            raise ValueError(f"n_scenarios must be at least 1, got {n_scenarios!r}")
        if correlation is not None and not 0 <= correlation <= 1:
            raise ValueError(f"correlation must be in [0, 1], got {correlation!r}")
        if tail not in ("linear", "exponential"):
            raise ValueError(f"tail must be 'linear' or 'exponential', got {tail!r}")
        pd.Timestamp("2020-01-01", tz=tz)  # refuses an unknown time zone early
        self.alpha, self.threshold, self.half_life_days, self.tz = (
            alpha,
            threshold,
            half_life_days,
            tz,
        )
        self.window_days, self.spike_quantile, self.n_scenarios = (
            window_days,
            spike_quantile,
            n_scenarios,
        )
        self.correlation, self.seed, self.tail, self.prior_days = (
            correlation,
            seed,
            tail,
            prior_days,
        )

    # ---- time grid -------------------------------------------------------------------------
    def _slots(self, index: pd.DatetimeIndex) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Local interval of the day and local day number (days since 1970) of each time."""
        local = index.tz_convert(self.tz)
        minutes = local.hour.to_numpy() * 60 + local.minute.to_numpy()
        day = local.tz_localize(None).normalize().to_numpy().astype("datetime64[D]")
        return (minutes // self.step_min_).astype(np.int64), day.astype(np.int64)

    def _fitted(self) -> None:
        if not hasattr(self, "deviations_"):
            raise ValueError("model is not fitted: call fit(history) first")

    # ---- fit -------------------------------------------------------------------------------
    def fit(self, history: pd.DataFrame) -> HistoricalRiskModel:
        """Learn deviations, threshold and spike frequencies from ``history`` (see module)."""
        check_history(history)
        idx = pd.DatetimeIndex(history.index)
        steps = np.unique(np.diff(idx.as_unit("ns").asi8))
        if len(idx) < 2 or steps.size != 1 or (86_400 * 10**9) % int(steps[0]):
            raise ValueError("history index must be on one regular step dividing a day")
        self.step_min_ = int(steps[0]) // (60 * 10**9)
        if self.step_min_ < 1:
            raise ValueError("history index step must be at least one minute")
        self.n_slots_ = 1440 // self.step_min_
        price = pd.to_numeric(history[TARGET], errors="raise").to_numpy(np.float64)
        if np.isinf(price).any():
            raise ValueError("history target must not be infinite")
        self.uses_forecast_ = FORECAST in history.columns
        slot, day = self._slots(idx)
        prices = self._day_matrix(price, slot, day)
        if self.uses_forecast_:
            fc = history[FORECAST].to_numpy(np.float64)
            deviations = prices - self._day_matrix(fc, slot, day)
        else:
            deviations = prices[1:] - prices[:-1]  # against the same interval a day before
        keep = ~np.isnan(deviations).all(axis=1)
        deviations = deviations[keep]
        if self.window_days is not None:
            deviations = deviations[-self.window_days :]
        if deviations.shape[0] < 2:
            raise ValueError("history must cover at least two days with deviations")
        self.deviations_: FloatArray = deviations
        recent = prices[-(self.window_days or prices.shape[0]) :]
        known = recent[~np.isnan(recent)]
        self.threshold_ = (
            float(self.threshold)
            if self.threshold is not None
            else float(np.quantile(known, self.spike_quantile))
        )
        with np.errstate(invalid="ignore"):
            self.spike_freq_: FloatArray = np.nan_to_num(
                np.nanmean(np.where(np.isnan(recent), np.nan, recent > self.threshold_), axis=0)
            )
        last = pd.Series(price[~np.isnan(price)], index=slot[~np.isnan(price)])
        self.last_prices_ = last.groupby(level=0).last().reindex(range(self.n_slots_)).to_numpy()
        return self

    def _day_matrix(
        self, values: FloatArray, slot: NDArray[np.int64], day: NDArray[np.int64]
    ) -> FloatArray:
        """``(n_days, n_slots)`` of ``values`` by local day and interval (mean of the two
        hours of a 25-hour day, NaN for the missing hour of a 23-hour day)."""
        frame = pd.DataFrame({"v": values, "s": slot, "d": day})
        table = frame.pivot_table(index="d", columns="s", values="v", aggfunc="mean", dropna=False)
        full = table.reindex(
            index=range(int(day.min()), int(day.max()) + 1), columns=range(self.n_slots_)
        )
        return full.to_numpy(np.float64)

    # ---- predict ---------------------------------------------------------------------------
    def _expectation(self, history: pd.DataFrame, index: pd.DatetimeIndex) -> FloatArray:
        slot, _ = self._slots(index)
        if self.uses_forecast_:
            if FORECAST not in history.columns:
                raise ValueError(f"history has no {FORECAST!r} column (the model was fit with one)")
            base = history[FORECAST].reindex(index).to_numpy(np.float64)
            if np.isnan(base).any():
                raise ValueError(f"history {FORECAST!r} has no value for some requested times")
            return base
        known = history[TARGET].dropna()
        k_slot, _ = self._slots(pd.DatetimeIndex(known.index))
        last = pd.Series(known.to_numpy(np.float64), index=k_slot).groupby(level=0).last()
        base = last.reindex(slot).to_numpy(np.float64)
        if np.isnan(base).any():
            raise ValueError("history target has no known price for some intervals of the day")
        return base

    def predict(self, history: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
        """``p10``/``p50``/``p90`` prices [currency/MWh] and ``spike_prob`` [0..1] at ``index``."""
        self._fitted()
        check_history(history)
        index = _check_index(index, "index")
        base = self._expectation(history, index)
        slot, _ = self._slots(index)
        dev = self.deviations_[:, slot]  # (n_days, n)
        w = decay_weights(dev.shape[0], self.half_life_days)[:, None] * ~np.isnan(dev)
        w = w / np.where(w.sum(axis=0) > 0, w.sum(axis=0), 1)
        quantiles = _weighted_quantiles(dev, w, (0.1, 0.5, 0.9))
        frame = quantile_frame(index, base[:, None] + quantiles)
        share = (w * (base + np.nan_to_num(dev, nan=-np.inf) > self.threshold_)).sum(axis=0)
        n = (~np.isnan(dev)).sum(axis=0)
        prior = self.prior_days
        frame["spike_prob"] = (n * share + prior * self.spike_freq_[slot]) / (n + prior)
        return frame

    # ---- assess ----------------------------------------------------------------------------
    def _blocks(self, index: pd.DatetimeIndex) -> tuple[FloatArray, FloatArray]:
        """Historical deviation scenarios ``(n_scen, n)`` for the schedule's intervals (blocks
        of consecutive past days for multi-day schedules, incomplete ones dropped) and their
        weights."""
        slot, day = self._slots(index)
        offset = day - day.min()
        starts = np.arange(self.deviations_.shape[0] - int(offset.max()))
        if starts.size == 0:
            raise ValueError("volumes span more days than the fitted history")
        dev = self.deviations_[starts[:, None] + offset[None, :], slot[None, :]]
        ok = ~np.isnan(dev).any(axis=1)
        if ok.sum() < 2:
            raise ValueError("fewer than two complete historical scenarios for these volumes")
        return dev[ok], decay_weights(starts.size, self.half_life_days)[ok]

    def assess(
        self,
        volumes: pd.Series,
        price_forecast: pd.DataFrame | None = None,
        method: Method | None = None,
    ) -> RiskReport:
        """Risk of the schedule ``volumes`` (UTC index -> energy [MWh], positive = sale).

        price_forecast : quantile price forecast per time [currency/MWh] with columns
            ``pXX`` (``p10``/``p50``/``p90`` or any levels); ``p50`` is the expectation of
            the historical method. Without it the historical method is the default and the
            expectation is the last fitted price of each interval of the day.
        method : ``historical`` or ``quantile`` (needs ``price_forecast``).
        """
        self._fitted()
        vol = _check_volumes(volumes, self.step_min_)
        index = pd.DatetimeIndex(volumes.index)
        how = method or ("historical" if price_forecast is None else "quantile")
        if how not in ("historical", "quantile"):
            raise ValueError(f"method must be 'historical' or 'quantile', got {method!r}")
        dev, weights = self._blocks(index)
        if price_forecast is None:
            if how == "quantile":
                raise ValueError("price_forecast is required by method 'quantile'")
            expected = self.last_prices_[self._slots(index)[0]]
            return self._historical(vol, index, expected + dev, weights)
        levels, values = _forecast_quantiles(price_forecast, index)
        if how == "historical":
            if 0.5 not in levels:
                raise ValueError("price_forecast needs a 'p50' column (the expectation)")
            expected = values[:, levels.index(0.5)]
            return self._historical(vol, index, expected + dev, weights)
        corr: Any = self.correlation
        if corr is None:
            corr = normal_scores_correlation(dev) if dev.shape[1] > 1 else 0.0
        prices = quantile_price_scenarios(
            levels,
            values,
            n_scenarios=self.n_scenarios,
            correlation=corr,
            seed=self.seed,
            tail=self.tail,
        )
        mean_pnl = float(vol @ quantile_mean(levels, values, self.tail))
        var, cvar = var_cvar(prices @ vol, self.alpha, expected=mean_pnl)
        _, any_spike = scenario_spike_probability(prices, self.threshold_)
        per_interval = spike_probability(levels, values, self.threshold_, self.tail)
        return self._report(mean_pnl, var, cvar, "quantile", prices, index, per_interval, any_spike)

    def _historical(
        self, vol: FloatArray, index: pd.DatetimeIndex, prices: FloatArray, weights: FloatArray
    ) -> RiskReport:
        pnl = prices @ vol
        var, cvar = var_cvar(pnl, self.alpha, weights=weights)
        mean_pnl = float(weights @ pnl / weights.sum())
        per_interval, any_spike = scenario_spike_probability(prices, self.threshold_, weights)
        return self._report(
            mean_pnl, var, cvar, "historical", prices, index, per_interval, any_spike
        )

    def _report(
        self,
        mean_pnl: float,
        var: float,
        cvar: float,
        method: Method,
        prices: FloatArray,
        index: pd.DatetimeIndex,
        per_interval: FloatArray,
        any_spike: float,
    ) -> RiskReport:
        return RiskReport(
            expected_pnl=mean_pnl,
            var=var,
            cvar=cvar,
            alpha=self.alpha,
            method=method,
            n_scenarios=int(prices.shape[0]),
            threshold=self.threshold_,
            spike_prob=pd.Series(per_interval, index=index, name="spike_prob"),
            spike_prob_max=any_spike,
        )


def _weighted_quantiles(dev: FloatArray, w: FloatArray, levels: tuple[float, ...]) -> FloatArray:
    """Lower weighted quantiles per column of ``dev (n_days, n)`` with column-normalised
    weights ``w`` (0 on NaN); ``(n, len(levels))``."""
    order = np.argsort(np.nan_to_num(dev, nan=np.inf), axis=0, kind="stable")
    sorted_dev = np.take_along_axis(dev, order, axis=0)
    cum = np.cumsum(np.take_along_axis(w, order, axis=0), axis=0)
    out = np.empty((dev.shape[1], len(levels)))
    cols = np.arange(dev.shape[1])
    for j, level in enumerate(levels):
        k = np.minimum((cum < level - 1e-12).sum(axis=0), dev.shape[0] - 1)
        out[:, j] = sorted_dev[k, cols]
    return np.nan_to_num(out)


def _check_index(index: Any, name: str) -> pd.DatetimeIndex:
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None or len(index) == 0:
        raise ValueError(f"{name} must be a non-empty tz-aware DatetimeIndex")
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise ValueError(f"{name} times must be increasing and unique")
    return index


def _check_volumes(volumes: Any, step_min: int) -> FloatArray:
    if not isinstance(volumes, pd.Series):
        raise ValueError("volumes must be a pandas Series (UTC time -> MWh)")
    index = _check_index(volumes.index, "volumes index")
    vol = pd.to_numeric(volumes, errors="coerce").to_numpy(np.float64)
    if not np.all(np.isfinite(vol)):
        raise ValueError("volumes must be finite numbers [MWh]")
    if np.any(index.as_unit("ns").asi8 % (step_min * 60 * 10**9)):
        raise ValueError(f"volumes times must lie on the model's {step_min}-minute grid")
    return vol


def _forecast_quantiles(forecast: Any, index: pd.DatetimeIndex) -> tuple[list[float], FloatArray]:
    if not isinstance(forecast, pd.DataFrame):
        raise ValueError("price_forecast must be a DataFrame of pXX columns")
    cols = {float(m.group(1)) / 100: c for c in forecast.columns if (m := _LEVEL.match(str(c)))}
    levels = sorted(level for level in cols if 0 < level < 1)
    if len(levels) < 2:
        raise ValueError("price_forecast needs at least two quantile columns such as p10, p90")
    frame = forecast[[cols[level] for level in levels]].reindex(index)
    values = frame.to_numpy(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("price_forecast has no finite value for some times of volumes")
    return levels, np.sort(values, axis=1)
