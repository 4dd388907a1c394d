"""The built-in algorithms of the registry: each one's parameters (checked, with units) and
how it is built from them and from the context of its data source."""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from pydantic import Field

from openvpp.forecasting.baseline import SeasonalNaiveForecaster
from openvpp.forecasting.direct import BoostingParams
from openvpp.forecasting.load import LoadForecaster
from openvpp.forecasting.price.forecaster import DayAheadPriceForecaster
from openvpp.forecasting.price.gbm import GbmConfig
from openvpp.forecasting.protocol import Forecaster, ModelKind
from openvpp.forecasting.pv import PvForecaster
from openvpp.forecasting.registry.catalog import (
    Algorithm,
    SourceContext,
    Strict,
    register_algorithm,
)
from openvpp.forecasting.risk.model import HistoricalRiskModel
from openvpp.forecasting.wind import WindForecaster
from openvpp.resources.models.pv import PvSpec

__all__: list[str] = []

Zone = Field(
    None,
    max_length=64,
    description="IANA time zone of the calendar features; "
    "default the data source's (the market's, else UTC)",
)


# -- seasonal naive ---------------------------------------------------------------------------


class SeasonalNaiveParams(Strict):
    # the lookback (60 days) must hold a season before a 14-day horizon
    season_hours: int = Field(24, ge=1, le=24 * 45, description="season length [h]")


register_algorithm(
    Algorithm(
        name="seasonal_naive",
        kinds=frozenset(ModelKind),
        description="Same time one season earlier, with empirical error quantiles; the "
        "persistence baseline (season 24 h) or the weekly naive (168 h).",
        params=SeasonalNaiveParams,
        build=lambda kind, p, _ctx: SeasonalNaiveForecaster(kind, p.season_hours),
        lookback_days=60,
    )
)


# -- day-ahead prices -------------------------------------------------------------------------


class DayAheadPriceParams(Strict):
    model: Literal["lear", "gbm", "ensemble"] = "ensemble"
    windows: list[int] = Field(
        [56, 84, 1092, 1456],
        min_length=1,
        max_length=8,
        description="LEAR calibration windows [days] (shortened to the history available)",
    )
    select_every: int = Field(7, ge=1, le=365, description="LEAR penalty re-selection [days]")
    calibration_days: int = Field(
        28, ge=1, le=365, description="trailing days forecast out of sample to set p10/p90"
    )
    gbm_window: int = Field(1092, ge=14, le=4000, description="LightGBM training window [days]")
    gbm_trees: int = Field(400, ge=10, le=5000, description="LightGBM boosting rounds")


def _price(kind: ModelKind, p: Any, ctx: SourceContext) -> Forecaster:
    if any(not 2 <= w <= 4000 for w in p.windows):
        raise ValueError("every LEAR window must be 2..4000 days")
    return DayAheadPriceForecaster(
        p.model,
        ctx.time_zone,
        windows=tuple(p.windows),
        select_every=p.select_every,
        gbm=GbmConfig(window=p.gbm_window, n_trees=p.gbm_trees),
        calibration_days=p.calibration_days,
    )


register_algorithm(
    Algorithm(
        name="day_ahead_price",
        kinds=frozenset({ModelKind.PRICE}),
        description="Day-ahead prices of the market's local days: LEAR (LASSO on "
        "variance-stabilised lagged prices and exogenous forecasts, several calibration "
        "windows), LightGBM, or their ensemble; p10/p90 from out-of-sample errors. Exogenous "
        "series are day-ahead forecasts (load, wind) known before the auction.",
        params=DayAheadPriceParams,
        build=_price,
        lookback_days=10,
    )
)


# -- load, PV, wind: direct gradient-boosted quantiles ----------------------------------------


class _DirectParams(Strict):
    tz: str | None = Zone
    max_iter: int = Field(150, ge=10, le=2000, description="boosting iterations per quantile")
    learning_rate: float = Field(0.08, gt=0, le=1)
    max_train_rows: int = Field(40_000, ge=1000, le=500_000)

    def boosting(self) -> BoostingParams:
        return BoostingParams(max_iter=self.max_iter, learning_rate=self.learning_rate)


class LoadParams(_DirectParams):
    horizon_hours: float = Field(38, gt=0, le=168, description="longest lead [h]")
    min_lead_hours: float = Field(13, ge=0, le=168, description="shortest lead [h]")
    issue_hour: float | None = Field(
        10.0, ge=0, lt=24, description="local hour of the training issue times; null: hourly"
    )
    nonnegative: bool = True


def _load(kind: ModelKind, p: Any, ctx: SourceContext) -> Forecaster:
    return LoadForecaster(
        tz=p.tz or ctx.time_zone,
        horizon=pd.Timedelta(hours=p.horizon_hours),
        min_lead=pd.Timedelta(hours=p.min_lead_hours),
        issue_hour=p.issue_hour,
        nonnegative=p.nonnegative,
        max_train_rows=p.max_train_rows,
        boosting=p.boosting(),
    )


register_algorithm(
    Algorithm(
        name="gbm_load",
        kinds=frozenset({ModelKind.LOAD}),
        description="Direct quantile load forecaster: gradient boosting on calendar features "
        "and the newest known loads (same time yesterday and last week, trailing means); by "
        "default day-ahead (issued 10:00 local, leads 13-38 h). Target in kW, consumption "
        "positive.",
        params=LoadParams,
        build=_load,
        lookback_days=15,
    )
)


class PvParams(_DirectParams):
    horizon_hours: float = Field(4, gt=0, le=48, description="longest lead [h]")
    min_lead_minutes: float = Field(30, gt=0, le=2880, description="shortest lead [min]")
    latitude: float | None = Field(None, ge=-90, le=90, description="default the resource's")
    longitude: float | None = Field(None, ge=-180, le=180, description="default the resource's")
    altitude_m: float = Field(0.0, ge=-500, le=9000)


def _pv(kind: ModelKind, p: Any, ctx: SourceContext) -> Forecaster:
    lat = p.latitude if p.latitude is not None else ctx.latitude
    lon = p.longitude if p.longitude is not None else ctx.longitude
    if lat is None or lon is None:
        raise ValueError("a PV model needs a location: params latitude/longitude or a resource's")
    rp = ctx.resource_params
    plant = None
    if {"tilt_deg", "azimuth_deg", "dc_capacity_mw", "ac_capacity_mw"} <= set(rp):
        plant = PvSpec(
            lat, lon, p.altitude_m, float(rp["tilt_deg"]), float(rp["azimuth_deg"]),
            float(rp["dc_capacity_mw"]), float(rp["ac_capacity_mw"]),
        )  # fmt: skip
    return PvForecaster(
        lat,
        lon,
        p.altitude_m,
        plant=plant,
        tz=p.tz or ctx.time_zone,
        horizon=pd.Timedelta(hours=p.horizon_hours),
        min_lead=pd.Timedelta(minutes=p.min_lead_minutes),
        max_train_rows=p.max_train_rows,
        boosting=p.boosting(),
    )


register_algorithm(
    Algorithm(
        name="csi_pv",
        kinds=frozenset({ModelKind.PV}),
        description="Clear-sky model (pvlib; the resource's plant when its parameters are "
        "known) times a gradient-boosted quantile forecast of the clear-sky index; zero at "
        "night. Intraday by default (30 min to 4 h). Target in kW.",
        params=PvParams,
        build=_pv,
        lookback_days=3,
    )
)


class WindParams(_DirectParams):
    turbine_type: str | None = Field(
        None, max_length=60, description="windpowerlib type; default the resource's"
    )
    hub_height_m: float | None = Field(None, gt=10, le=250, description="default the resource's")
    measurement_height_m: float = Field(10.0, gt=0, le=250, description="of wind_speed [m]")
    roughness_length_m: float = Field(0.15, gt=0, le=5)
    horizon_hours: float = Field(6, gt=0, le=48, description="longest lead [h]")


def _wind(kind: ModelKind, p: Any, ctx: SourceContext) -> Forecaster:
    rp = ctx.resource_params
    return WindForecaster(
        p.turbine_type or str(rp.get("turbine_type", "E-101/3050")),
        hub_height_m=p.hub_height_m or float(rp.get("hub_height_m", 100.0)),
        measurement_height_m=p.measurement_height_m,
        roughness_length_m=p.roughness_length_m,
        tz=p.tz or ctx.time_zone,
        horizon=pd.Timedelta(hours=p.horizon_hours),
        max_train_rows=p.max_train_rows,
        boosting=p.boosting(),
    )


register_algorithm(
    Algorithm(
        name="power_curve_wind",
        kinds=frozenset({ModelKind.WIND}),
        description="Gradient-boosted quantile forecast of the wind speed (exogenous column "
        "'wind_speed' [m/s] at the measurement height; 'wind_speed_forecast' when given), "
        "scaled to hub height and passed through the turbine's power curve; a measured "
        "'target' [kW] calibrates a loss factor.",
        params=WindParams,
        build=_wind,
        lookback_days=3,
    )
)


# -- risk -------------------------------------------------------------------------------------


class HistoricalRiskParams(Strict):
    alpha: float = Field(0.95, ge=0.5, le=0.999, description="VaR/CVaR confidence level")
    threshold: float | None = Field(
        None,
        description="spike threshold [currency/MWh]; default the spike_quantile of the "
        "training prices",
    )
    spike_quantile: float = Field(0.95, gt=0, lt=1)
    half_life_days: float | None = Field(
        None, gt=0, le=3650, description="weight of a past day halves every this many days"
    )
    window_days: int | None = Field(365, ge=2, le=3650, description="days of history used")
    n_scenarios: int = Field(10_000, ge=100, le=100_000)
    correlation: float | None = Field(
        None, ge=0, le=1, description="one-factor copula correlation; default from history"
    )
    seed: int = Field(0, ge=0, le=2**31 - 1)
    tail: Literal["exponential", "linear"] = "exponential"


def _risk(kind: ModelKind, p: Any, ctx: SourceContext) -> Forecaster:
    return HistoricalRiskModel(
        p.alpha,
        p.threshold,
        p.half_life_days,
        ctx.time_zone,
        window_days=p.window_days,
        spike_quantile=p.spike_quantile,
        n_scenarios=p.n_scenarios,
        correlation=p.correlation,
        seed=p.seed,
        tail=p.tail,
    )


register_algorithm(
    Algorithm(
        name="historical_risk",
        kinds=frozenset({ModelKind.RISK}),
        description="Price risk from historical deviations per interval of the day (from the "
        "exogenous 'forecast' column when given, else from the day before): price quantiles, "
        "spike probability, and VaR/CVaR of a schedule by historical simulation or from "
        "quantile forecasts (POST /api/vpp/ai/risk/assess).",
        params=HistoricalRiskParams,
        build=_risk,
        lookback_days=10,
    )
)
