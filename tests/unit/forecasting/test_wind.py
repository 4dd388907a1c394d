"""Wind forecasting: power-curve limits, hub-height scaling, loss-factor calibration, the
exogenous speed forecast, leakage, pickling, skill against persistence."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from openvpp.forecasting.direct import BoostingParams
from openvpp.forecasting.protocol import Forecaster, ModelKind
from openvpp.forecasting.pv import NSRDB_TZ, read_nsrdb
from openvpp.forecasting.wind import WindForecaster, curve_power_kw, evaluate_wind
from openvpp.resources.models.wind import PowerCurve, power_curve

DATA = Path(__file__).resolve().parents[2] / "data" / "forecasting"
SAMPLE = DATA / "nsrdb_2023_may_jun_6w.csv"
SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
FAST = BoostingParams(max_iter=40)
LEADS = (pd.Timedelta(hours=1), pd.Timedelta(hours=4))
ISSUE = pd.Timestamp("2023-06-05 12:00", tz="UTC")


@pytest.fixture(scope="module")
def wind() -> pd.DataFrame:
    return read_nsrdb(SAMPLE)[["wind_speed"]]


@pytest.fixture(scope="module")
def fitted(wind: pd.DataFrame) -> WindForecaster:
    model = WindForecaster(measurement_height_m=2.0, boosting=FAST, train_leads=LEADS)
    return model.fit(wind.loc[:"2023-06-01"])


def test_power_curve_limits() -> None:
    curve = power_curve("E-101/3050")
    speeds = np.array([0.0, 1.0, 1.5, 8.0, 13.0, 20.0, 25.0, 25.6, 40.0, np.nan])
    p = curve_power_kw(speeds, curve)
    assert p[0] == p[1] == p[2] == 0  # below cut-in
    assert p[7] == p[8] == 0  # above cut-out
    assert np.all(p[:-1] <= curve.max_power_mw * 1e3)
    assert p[5] == pytest.approx(3000.0)  # rated
    assert np.isnan(p[-1])
    toy = PowerCurve(np.array([3.0, 5.0, 10.0]), np.array([0.0, 1000.0, 2000.0]))
    np.testing.assert_allclose(curve_power_kw(np.array([4.0, 7.5, 11.0]), toy), [0.5, 1.5, 0.0])


def test_hub_height_scaling_raises_power() -> None:
    low = WindForecaster(hub_height_m=100.0, measurement_height_m=100.0)
    high = WindForecaster(hub_height_m=100.0, measurement_height_m=2.0)
    v = np.array([3.0, 5.0])
    assert (high.power_kw(v) > low.power_kw(v)).all()
    with pytest.raises(ValueError, match="turbine_type or a power curve"):
        WindForecaster(None)


def test_loss_factor_is_calibrated_from_measured_power(wind: pd.DataFrame) -> None:
    model = WindForecaster(measurement_height_m=2.0, boosting=FAST, train_leads=LEADS)
    history = wind.loc[:"2023-05-20"].copy()
    history["target"] = 0.8 * model.power_kw(history["wind_speed"].to_numpy())
    model.fit(history)
    assert model.loss_factor == pytest.approx(0.8)


def test_quantiles_ordered_and_within_rated(fitted: WindForecaster, wind: pd.DataFrame) -> None:
    assert isinstance(fitted, Forecaster) and fitted.kind is ModelKind.WIND
    index = pd.date_range(ISSUE + pd.Timedelta(minutes=30), periods=12, freq="30min")
    f = fitted.predict(wind, index, issued_at=ISSUE)
    assert (f["p10"] <= f["p50"]).all() and (f["p50"] <= f["p90"]).all()
    assert (f.to_numpy() >= 0).all() and (f.to_numpy() <= 3000.0).all()


def test_changing_the_future_never_changes_the_forecast(
    fitted: WindForecaster, wind: pd.DataFrame
) -> None:
    index = pd.date_range(ISSUE + pd.Timedelta(hours=1), periods=8, freq="30min")
    base = fitted.predict(wind, index, issued_at=ISSUE)
    changed = wind.copy()
    changed.loc[changed.index > ISSUE, "wind_speed"] = 30.0
    pd.testing.assert_frame_equal(fitted.predict(changed, index, issued_at=ISSUE), base)
    hidden = wind.loc[:ISSUE]
    pd.testing.assert_frame_equal(fitted.predict(hidden, index), base)


def test_exogenous_speed_forecast_is_used(wind: pd.DataFrame) -> None:
    history = wind.loc[:"2023-06-01"].copy()
    # a perfect NWP: the model should follow it
    history["wind_speed_forecast"] = history["wind_speed"]
    model = WindForecaster(measurement_height_m=2.0, boosting=FAST, train_leads=LEADS).fit(history)
    index = pd.date_range(ISSUE + pd.Timedelta(hours=4), periods=1, freq="30min")
    frame = wind.assign(wind_speed_forecast=wind["wind_speed"])
    calm = model.predict(frame.assign(wind_speed_forecast=0.5), index, issued_at=ISSUE)
    windy = model.predict(frame.assign(wind_speed_forecast=9.0), index, issued_at=ISSUE)
    assert windy["p50"].iloc[0] > calm["p50"].iloc[0]
    with pytest.raises(ValueError, match="exogenous"):
        model.predict(wind, index, issued_at=ISSUE)


def test_joblib_round_trip(fitted: WindForecaster, wind: pd.DataFrame, tmp_path: Path) -> None:
    index = pd.date_range(ISSUE + pd.Timedelta(hours=1), periods=4, freq="30min")
    joblib.dump(fitted, tmp_path / "wind.joblib")
    again = joblib.load(tmp_path / "wind.joblib")
    pd.testing.assert_frame_equal(
        again.predict(wind, index, issued_at=ISSUE), fitted.predict(wind, index, issued_at=ISSUE)
    )


def test_beats_persistence_on_the_sample(wind: pd.DataFrame) -> None:
    figures = evaluate_wind(
        wind,
        WindForecaster(measurement_height_m=2.0, boosting=FAST, train_leads=LEADS),
        day_ahead=False,
        min_train=pd.Timedelta(days=21),
        refit_every=pd.Timedelta(days=30),
        leads=LEADS,
    )
    assert figures["240min"]["skill_persistence"] > 0
    assert figures["all"]["n"] > 1000


@pytest.mark.slow
def test_full_year_intraday_skill() -> None:
    path = SHARED / "pv" / "nsrdb_psm4_2023_40.5137_-108.5449_30min.csv"
    if not path.is_file():
        pytest.skip(f"shared data not found at {path}")
    history = read_nsrdb(path)[["wind_speed"]]
    model = WindForecaster(measurement_height_m=2.0, tz=NSRDB_TZ, train_leads=LEADS)
    figures = evaluate_wind(
        history, model, day_ahead=False, refit_every=pd.Timedelta(days=90), leads=LEADS
    )
    assert figures["60min"]["skill_persistence"] > 0.1
    assert figures["240min"]["skill_persistence"] > 0.1
