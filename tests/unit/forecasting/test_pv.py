"""PV forecasting: NSRDB reading, night = 0, leakage, quantiles, pickling, skill against smart
persistence on the shipped sample and (slow) on the full shared year."""

from __future__ import annotations

from pathlib import Path

import joblib
import pandas as pd
import pytest

from openvpp.forecasting.direct import BoostingParams
from openvpp.forecasting.evaluation import day_ahead_pairs, intraday_pairs
from openvpp.forecasting.protocol import Forecaster, ModelKind
from openvpp.forecasting.pv import NSRDB_TZ, PvForecaster, evaluate_pv, read_nsrdb
from openvpp.resources.models.pv import PvSpec

DATA = Path(__file__).resolve().parents[2] / "data" / "forecasting"
SAMPLE = DATA / "nsrdb_2023_may_jun_6w.csv"
SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
SITE = (40.5137, -108.5449, 1900.0)
FAST = BoostingParams(max_iter=40)
ISSUE = pd.Timestamp("2023-06-05 17:00", tz="UTC")  # 10:00 local standard time (UTC-7)


@pytest.fixture(scope="module")
def nsrdb() -> pd.DataFrame:
    return read_nsrdb(SAMPLE)


@pytest.fixture(scope="module")
def fitted(nsrdb: pd.DataFrame) -> PvForecaster:
    history = nsrdb.loc[:"2023-06-01", ["target", "clear_sky"]]
    return PvForecaster(*SITE, tz=NSRDB_TZ, boosting=FAST).fit(history)


def test_nsrdb_times_are_utc_minus_7(nsrdb: pd.DataFrame) -> None:
    assert nsrdb.index[0] == pd.Timestamp("2023-05-01 07:00", tz="UTC")
    noon = nsrdb["target"].groupby(nsrdb.index.tz_convert(NSRDB_TZ).hour).mean()
    assert noon.idxmax() in (11, 12, 13)  # the sun peaks near local solar noon


def test_night_is_zero_and_quantiles_ordered(fitted: PvForecaster, nsrdb: pd.DataFrame) -> None:
    assert isinstance(fitted, Forecaster) and fitted.kind is ModelKind.PV
    index = pd.date_range(ISSUE + pd.Timedelta(minutes=30), periods=8, freq="30min")
    night = pd.date_range("2023-06-06 04:00", periods=4, freq="30min", tz="UTC")  # 21:00 local
    f = fitted.predict(nsrdb[["target", "clear_sky"]], index.union(night), issued_at=ISSUE)
    assert (f.loc[night].to_numpy() == 0).all()
    day = f.loc[index]
    assert (day["p50"] > 0).all()
    assert (day["p10"] <= day["p50"]).all() and (day["p50"] <= day["p90"]).all()


def test_changing_the_future_never_changes_the_forecast(
    fitted: PvForecaster, nsrdb: pd.DataFrame
) -> None:
    frame = nsrdb[["target", "clear_sky"]]
    index = pd.date_range(ISSUE + pd.Timedelta(minutes=30), periods=8, freq="30min")
    base = fitted.predict(frame, index, issued_at=ISSUE)
    changed = frame.copy()
    after = changed.index > ISSUE
    changed.loc[after, "target"] = 0.0
    pd.testing.assert_frame_equal(fitted.predict(changed, index, issued_at=ISSUE), base)
    cloudy = frame.copy()
    cloudy.loc[ISSUE, "target"] *= 0.3
    assert not fitted.predict(cloudy, index, issued_at=ISSUE).equals(base)


def test_joblib_round_trip(fitted: PvForecaster, nsrdb: pd.DataFrame, tmp_path: Path) -> None:
    index = pd.date_range(ISSUE + pd.Timedelta(hours=1), periods=4, freq="30min")
    frame = nsrdb[["target", "clear_sky"]]
    joblib.dump(fitted, tmp_path / "pv.joblib")
    again = joblib.load(tmp_path / "pv.joblib")
    pd.testing.assert_frame_equal(
        again.predict(frame, index, issued_at=ISSUE), fitted.predict(frame, index, issued_at=ISSUE)
    )


def test_model_clear_sky_with_a_plant_gives_kw(nsrdb: pd.DataFrame) -> None:
    plant = PvSpec(*SITE, tilt_deg=30.0, azimuth_deg=180.0, dc_capacity_mw=0.01,
                   ac_capacity_mw=0.008)  # fmt: skip
    model = PvForecaster(*SITE, plant=plant, boosting=FAST)
    # a 10 kWp plant seeing GHI / 100 [kW]: the model's clear sky is scaled to fit it
    history = nsrdb.loc[:"2023-05-28", ["target"]] / 100.0
    model.fit(history)
    assert model.scale == pytest.approx(1.0, abs=0.5)
    issue = pd.Timestamp("2023-05-28 17:00", tz="UTC")
    index = pd.date_range(issue + pd.Timedelta(hours=1), periods=3, freq="30min")
    f = model.predict(history, index, issued_at=issue)
    assert 0 < f["p50"].max() <= 8.0 * 1.5


def test_pairs_helpers() -> None:
    grid = pd.date_range("2023-01-01", periods=48 * 4, freq="30min", tz="UTC")
    intraday = intraday_pairs(grid, (pd.Timedelta(minutes=30), pd.Timedelta(hours=2)), grid[-6])
    assert len(intraday) == 5 + 2  # targets must be on the grid: 5 at 30 min, 2 at 2 h
    assert (intraday.times > intraday.issued).all()
    ahead = day_ahead_pairs(grid, NSRDB_TZ, grid[0])
    issued_local = ahead.issued.tz_convert(NSRDB_TZ)
    assert (issued_local.hour == 10).all()
    days = ahead.times.tz_convert(NSRDB_TZ).normalize()
    assert (days - issued_local.normalize() == pd.Timedelta(days=1)).all()
    assert len(ahead) == 48 * 2 + 34  # local days 2 and 3, day 4 up to the grid end (16:30)


def test_beats_smart_persistence_on_the_sample(nsrdb: pd.DataFrame) -> None:
    figures = evaluate_pv(
        nsrdb[["target", "clear_sky"]],
        PvForecaster(*SITE, tz=NSRDB_TZ, boosting=FAST, train_leads=(pd.Timedelta(hours=2),)),
        day_ahead=False,
        min_train=pd.Timedelta(days=21),
        refit_every=pd.Timedelta(days=30),
        leads=(pd.Timedelta(hours=2),),
    )
    assert figures["all"]["n"] > 300
    assert figures["all"]["skill_smart_persistence"] > 0


@pytest.mark.slow
def test_full_year_day_ahead_skill() -> None:
    path = SHARED / "pv" / "nsrdb_psm4_2023_40.5137_-108.5449_30min.csv"
    if not path.is_file():
        pytest.skip(f"shared data not found at {path}")
    history = read_nsrdb(path)[["target", "clear_sky"]]
    model = PvForecaster(*SITE, tz=NSRDB_TZ, horizon=pd.Timedelta(hours=38),
                         min_lead=pd.Timedelta(hours=14), issue_hour=10.0)  # fmt: skip
    figures = evaluate_pv(history, model, day_ahead=True, refit_every=pd.Timedelta(days=60))
    assert figures["all"]["skill_smart_persistence"] > 0.1
