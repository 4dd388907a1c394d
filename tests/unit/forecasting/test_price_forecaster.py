"""DayAheadPriceForecaster (registry adapter): protocol, leakage, DST, pickling, bad input."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from openvpp.forecasting.price import load_day_matrix
from openvpp.forecasting.price.forecaster import DayAheadPriceForecaster
from openvpp.forecasting.price.gbm import GbmConfig
from openvpp.forecasting.price.local_days import to_local_days
from openvpp.forecasting.protocol import QUANTILE_COLUMNS, Forecaster, ModelKind

SAMPLE = Path(__file__).parents[2] / "data" / "forecasting" / "np_excerpt_120d.csv"


def _small(model: str = "ensemble", tz: str = "UTC") -> DayAheadPriceForecaster:
    return DayAheadPriceForecaster(
        model=model,
        tz=tz,
        windows=(28, 42),
        gbm=GbmConfig(window=56, n_trees=60),
        calibration_days=7,
    )


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    """The NP excerpt as a protocol history frame (hourly UTC index)."""
    dm = load_day_matrix(SAMPLE)
    index = pd.date_range("2018-08-27", periods=dm.n_days * 24, freq="h", tz="UTC")
    return pd.DataFrame(
        {
            "target": dm.prices.reshape(-1),
            "load": dm.exogenous[:, :, 0].reshape(-1),
            "wind": dm.exogenous[:, :, 1].reshape(-1),
        },
        index=index,
    )


@pytest.fixture(scope="module")
def fitted(history: pd.DataFrame) -> DayAheadPriceForecaster:
    return _small().fit(history.iloc[: 100 * 24])


def _issue(history: pd.DataFrame, day: int) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """History known when forecasting day ``day``: prices up to the day before, exogenous
    forecasts through ``day``; and the 24 hours of ``day``."""
    known = history.iloc[: (day + 1) * 24].copy()
    known.iloc[day * 24 :, known.columns.get_loc("target")] = np.nan
    return known, pd.DatetimeIndex(history.index[day * 24 : (day + 1) * 24])


def test_protocol_and_forecasts_beat_the_weekly_naive(
    history: pd.DataFrame, fitted: DayAheadPriceForecaster
) -> None:
    assert isinstance(fitted, Forecaster) and fitted.kind is ModelKind.PRICE
    prices = history["target"].to_numpy().reshape(-1, 24)
    errors, naive = [], []
    for day in range(100, 110):
        known, index = _issue(history, day)
        frame = fitted.predict(known, index)
        assert list(frame.columns) == list(QUANTILE_COLUMNS)
        assert frame.index.equals(index)
        values = frame.to_numpy()
        assert np.all(np.diff(values, axis=1) >= 0)
        errors.append(np.abs(values[:, 1] - prices[day]).mean())
        naive.append(np.abs(prices[day - 7] - prices[day]).mean())
    assert np.mean(errors) < 0.8 * np.mean(naive), (np.mean(errors), np.mean(naive))


def test_forecast_ignores_everything_known_later(
    history: pd.DataFrame, fitted: DayAheadPriceForecaster
) -> None:
    known, index = _issue(history, 105)
    base = fitted.predict(known, index)
    # Later rows (exogenous of later days, NaN prices) and a truncated frame give the same.
    longer = history.iloc[: 110 * 24].copy()
    longer.iloc[105 * 24 :, longer.columns.get_loc("target")] = np.nan
    longer.iloc[106 * 24 :, 1:] *= -3.0
    pd.testing.assert_frame_equal(fitted.predict(longer, index), base)
    # A price known at or after the forecast start is refused, not used.
    with pytest.raises(ValueError, match="not after the last known price"):
        fitted.predict(history.iloc[: 106 * 24], index)


def test_multi_day_and_sub_day_requests(
    history: pd.DataFrame, fitted: DayAheadPriceForecaster
) -> None:
    known = history.iloc[: 107 * 24].copy()
    known.iloc[104 * 24 :, known.columns.get_loc("target")] = np.nan
    three = pd.DatetimeIndex(history.index[104 * 24 : 107 * 24])
    frame = fitted.predict(known, three)
    assert frame.shape == (72, 3)
    one = fitted.predict(known, three[:24])
    pd.testing.assert_frame_equal(frame.iloc[:24], one)
    # A few hours of the third day are the same values as in the full request.
    part = fitted.predict(known, three[60:65])
    pd.testing.assert_frame_equal(part, frame.iloc[60:65])


def test_joblib_round_trip_is_exact(
    history: pd.DataFrame, fitted: DayAheadPriceForecaster, tmp_path: Path
) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump(fitted, path)
    loaded = joblib.load(path)
    known, index = _issue(history, 103)
    pd.testing.assert_frame_equal(loaded.predict(known, index), fitted.predict(known, index))


def test_fit_is_deterministic_and_single_models_work(history: pd.DataFrame) -> None:
    known, index = _issue(history, 70)
    train = history.iloc[: 70 * 24]
    a = _small("gbm").fit(train).predict(known, index)
    b = _small("gbm").fit(train).predict(known, index)
    pd.testing.assert_frame_equal(a, b)
    lear = _small("lear").fit(train).predict(known, index)
    assert not lear.equals(a)
    assert np.all(np.isfinite(lear.to_numpy()))


def test_dst_days_in_local_time(history: pd.DataFrame) -> None:
    # 2018-10-28 has 25 hours in Oslo: two 02:00 local hours, averaged for the model.
    model = _small(tz="Europe/Oslo").fit(history.iloc[: 60 * 24])
    start = pd.Timestamp("2018-10-28 00:00", tz="Europe/Oslo")
    end = pd.Timestamp("2018-10-29 00:00", tz="Europe/Oslo")
    index = pd.date_range(start, end, freq="h", inclusive="left")
    index = index.tz_convert("UTC")
    assert len(index) == 25
    known = history.loc[: index[-1]].copy()
    known.loc[index[0] :, "target"] = np.nan
    frame = model.predict(known, index)
    assert frame.shape == (25, 3) and frame.index.equals(index)
    local = index.tz_convert("Europe/Oslo")
    twice = np.flatnonzero(local.hour == 2)
    assert len(twice) == 2
    np.testing.assert_array_equal(frame.iloc[twice[0]], frame.iloc[twice[1]])


def test_local_days_fill_the_skipped_hour_and_average_repeats_and_sub_hours() -> None:
    # Spring forward in Oslo on 2018-03-25: local 02:00 does not exist.
    index = pd.date_range("2018-03-24 00:00", "2018-03-26 23:45", freq="15min", tz="Europe/Oslo")
    utc = index.tz_convert("UTC")
    values = np.arange(len(utc), dtype=float)
    days = to_local_days(pd.DataFrame({"target": values}, index=utc), "Europe/Oslo")
    assert days.prices.shape == (3, 24) and np.isfinite(days.prices).all()
    # hourly means of four quarter hours; the skipped 02:00 is midway between 01:00 and 03:00
    assert days.prices[0, 0] == pytest.approx(values[:4].mean())
    sunday = days.prices[1]
    assert sunday[2] == pytest.approx((sunday[1] + sunday[3]) / 2)
    assert str(days.dates[1]) == "2018-03-25"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "dnn"}, "model must be one of"),
        ({"tz": "Mars/Olympus"}, "not a known time zone"),
        ({"calibration_days": 0}, "calibration_days"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DayAheadPriceForecaster(**kwargs)  # type: ignore[arg-type]


def test_bad_input_is_refused(history: pd.DataFrame, fitted: DayAheadPriceForecaster) -> None:
    known, index = _issue(history, 103)
    with pytest.raises(ValueError, match="not fitted"):
        _small().predict(known, index)
    with pytest.raises(ValueError, match="need at least"):
        _small().fit(history.iloc[: 9 * 24])
    with pytest.raises(ValueError, match="tz-aware"):
        fitted.predict(known, index.tz_localize(None))
    with pytest.raises(ValueError, match="exogenous columns"):
        fitted.predict(known.drop(columns="wind"), index)
    with pytest.raises(ValueError, match="'load' is missing"):
        fitted.predict(known.assign(load=np.nan), index)
    gap = history.iloc[: 100 * 24].copy()
    gap.iloc[50 * 24 + 3, 0] = np.nan
    with pytest.raises(ValueError, match="missing prices on local day 2018-10-16"):
        _small().fit(gap)
    far = pd.DatetimeIndex(history.index[112 * 24 : 113 * 24])
    with pytest.raises(ValueError, match="at most 7"):
        fitted.predict(
            history.iloc[: 113 * 24].assign(
                target=lambda f: f["target"].where(f.index < history.index[103 * 24])
            ),
            far,
        )
    with pytest.raises(ValueError, match="regular step"):
        fitted.predict(known.drop(index=known.index[5]), index)
