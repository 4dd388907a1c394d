"""Load forecasting: meter differencing, lag helpers, leakage, quantiles, pickling, skill on
the shipped household sample and (slow) on the full shared file."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from openvpp.forecasting.direct import BoostingParams, known_lag, last_known, trailing_mean
from openvpp.forecasting.evaluation import score, skill
from openvpp.forecasting.load import (
    LoadForecaster,
    bdew_baseline,
    bdew_column,
    evaluate_load,
    load_persistence,
    meter_to_intervals,
    read_opsd_household,
)
from openvpp.forecasting.metrics import quantile_scores
from openvpp.forecasting.protocol import Forecaster, ModelKind

DATA = Path(__file__).resolve().parents[2] / "data" / "forecasting"
SAMPLE = DATA / "opsd_household_grid_import_6w.csv"
SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
FAST = BoostingParams(max_iter=40)


@pytest.fixture(scope="module")
def household() -> pd.DataFrame:
    history, _ = read_opsd_household(SAMPLE)
    history["bdew"] = bdew_column(pd.DatetimeIndex(history.index))
    return history


@pytest.fixture(scope="module")
def fitted(household: pd.DataFrame) -> LoadForecaster:
    return LoadForecaster(boosting=FAST).fit(household.loc[:"2016-12-01"])


# --- meter readings ---------------------------------------------------------------------------


def test_meter_differences_with_gap_and_reset() -> None:
    t = pd.date_range("2020-01-01", periods=8, freq="h", tz="UTC")
    readings = pd.Series([10.0, 11.0, 13.0, np.nan, np.nan, 20.0, 1.0, 2.5], index=t)
    m = meter_to_intervals(readings)
    expected = [1.0, 2.0, np.nan, np.nan, np.nan, np.nan, 1.5]
    np.testing.assert_array_equal(m.energy_kwh.to_numpy(), expected)
    assert m.energy_kwh.index[0] == t[0]  # labelled by the interval's start
    assert (m.missing, m.gaps, m.resets) == (3, 1, 1)


def test_meter_power_is_energy_per_hour_and_absent_rows_count_as_missing() -> None:
    t = pd.date_range("2020-01-01", periods=6, freq="15min", tz="UTC")
    readings = pd.Series([0.0, 0.25, 0.75, 1.0, 1.5, 2.0], index=t).drop(t[3])
    m = meter_to_intervals(readings)
    np.testing.assert_allclose(m.power_kw.to_numpy()[:2], [1.0, 2.0])
    assert m.missing == 2 and m.gaps == 1 and m.resets == 0


def test_sample_reads_as_hourly_kw(household: pd.DataFrame) -> None:
    y = household["target"]
    assert len(y) == 1008 and y.index.tz is not None
    assert y.min() >= 0 and 0.3 < y.mean() < 3  # kW, a heat-pump household in winter


# --- helpers ----------------------------------------------------------------------------------


def test_lag_helpers_on_hand_computed_values() -> None:
    v = np.arange(10, dtype=float)
    v[4] = np.nan
    issue, target = np.array([5, 5, 5]), np.array([6, 8, 9])
    # period 3: 6 -> 3, 8 -> 5, 9 -> 3 (6 is after the issue)
    np.testing.assert_array_equal(known_lag(v, issue, target, 3), [3.0, 5.0, 3.0])
    np.testing.assert_allclose(trailing_mean(v, np.array([5, 1]), 3), [(3 + 5) / 2, 0.5])
    held, age = last_known(v, np.array([4, 5]))
    np.testing.assert_array_equal(held, [3.0, 5.0])
    np.testing.assert_array_equal(age, [1.0, 0.0])


def test_metrics_on_hand_computed_values() -> None:
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    q = np.array([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [1.0, 3.0, 5.0], [1.0, 2.0, 3.0]])
    figures = score(actual, q, {"naive": np.array([2.0, 2.0, 2.0, 2.0])})
    assert figures["mae"] == pytest.approx(0.5)  # errors 0, 0, 0, 2
    assert figures["rmse"] == pytest.approx(1.0)
    assert figures["naive_rmse"] == pytest.approx(np.sqrt((1 + 0 + 1 + 4) / 4))
    assert figures["skill_naive"] == pytest.approx(1 - 1 / np.sqrt(1.5))
    assert figures["coverage_80"] == pytest.approx(0.75)
    # pinball of one row: actual 4, quantiles 1, 2, 3 -> 0.1*3 + 0.5*2 + 0.9*1
    one = quantile_scores(np.array([4.0]), np.array([[1.0, 2.0, 3.0]]))
    assert one["pinball"] == pytest.approx((0.3 + 1.0 + 0.9) / 3)
    assert skill(1.0, 2.0) == 0.5
    with pytest.raises(ValueError, match="perfect"):
        skill(1.0, 0.0)


def test_baselines_persistence_and_bdew() -> None:
    step = pd.Timedelta(hours=1)
    y = np.arange(24 * 9, dtype=float)
    issue, target = np.array([24 * 8 - 1]), np.array([24 * 8 + 5])
    p = load_persistence(y, issue, target, step)
    assert p["persistence_day"][0] == 24 * 7 + 5
    assert p["persistence_week"][0] == 24 + 5
    shape = np.full(y.size, 0.5)
    b = bdew_baseline(np.full(y.size, 2.0), shape, issue, target, 24 * 365)
    assert b[0] == pytest.approx(2.0)  # a flat profile scaled to the mean load


# --- forecaster -------------------------------------------------------------------------------


def test_protocol_and_quantiles(fitted: LoadForecaster, household: pd.DataFrame) -> None:
    assert isinstance(fitted, Forecaster) and fitted.kind is ModelKind.LOAD
    history = household.loc[:"2016-12-05 09:00"]
    index = pd.date_range("2016-12-05 23:00", periods=24, freq="h", tz="UTC")
    f = fitted.predict(
        history.assign(target=history["target"])
        .reindex(history.index.union(index))
        .assign(bdew=household["bdew"]),
        index,
    )
    assert list(f.columns) == ["p10", "p50", "p90"] and f.index.equals(index)
    assert (f["p10"] <= f["p50"]).all() and (f["p50"] <= f["p90"]).all()
    assert (f.to_numpy() >= 0).all()


def test_changing_the_future_never_changes_the_forecast(
    fitted: LoadForecaster, household: pd.DataFrame
) -> None:
    issue = pd.Timestamp("2016-12-05 09:00", tz="UTC")
    index = pd.date_range("2016-12-05 23:00", periods=24, freq="h", tz="UTC")
    base = fitted.predict(household, index, issued_at=issue)
    changed = household.copy()
    after = changed.index > issue
    changed.loc[after, "target"] = np.random.default_rng(1).uniform(0, 50, after.sum())
    assert fitted.predict(changed, index, issued_at=issue).equals(base)
    hidden = household.copy()
    hidden.loc[after, "target"] = np.nan  # the registry's way: unknown rows are NaN
    pd.testing.assert_frame_equal(fitted.predict(hidden, index), base)
    earlier = household.copy()
    earlier.loc[household.index[household.index <= issue][-30:], "target"] += 5.0
    assert not fitted.predict(earlier, index, issued_at=issue).equals(base)


def test_joblib_round_trip(fitted: LoadForecaster, household: pd.DataFrame, tmp_path: Path) -> None:
    index = pd.date_range("2016-12-06 00:00", periods=12, freq="h", tz="UTC")
    issue = pd.Timestamp("2016-12-05 09:00", tz="UTC")
    joblib.dump(fitted, tmp_path / "m.joblib")
    again = joblib.load(tmp_path / "m.joblib")
    pd.testing.assert_frame_equal(
        again.predict(household, index, issued_at=issue),
        fitted.predict(household, index, issued_at=issue),
    )


def test_unfitted_and_bad_input_are_refused(household: pd.DataFrame) -> None:
    index = pd.date_range("2016-12-06", periods=2, freq="h", tz="UTC")
    with pytest.raises(RuntimeError, match="not fitted"):
        LoadForecaster().predict(household, index)
    with pytest.raises(ValueError, match="training pairs"):
        LoadForecaster().fit(household.iloc[:30])
    with pytest.raises(ValueError, match="min_lead"):
        LoadForecaster(min_lead=pd.Timedelta(hours=40))


def test_beats_persistence_on_the_sample(household: pd.DataFrame) -> None:
    figures = evaluate_load(
        household[["target"]],
        model=LoadForecaster(boosting=FAST),
        min_train=pd.Timedelta(days=21),
        refit_every=pd.Timedelta(days=14),
    )
    assert figures["days"] >= 19
    assert figures["skill_persistence_day"] > 0
    assert figures["skill_persistence_week"] > 0


@pytest.mark.slow
def test_full_household_evaluation() -> None:
    path = SHARED / "load" / "opsd_household_DE_KN_residential4_60min.csv"
    if not path.is_file():
        pytest.skip(f"shared data not found at {path}")
    history, meter = read_opsd_household(path)
    assert meter.resets == 0 and meter.missing == 355
    figures = evaluate_load(history, refit_every=pd.Timedelta(days=28))
    assert figures["skill_persistence_day"] > 0.05
    assert figures["skill_persistence_week"] > 0.05
    assert figures["skill_bdew"] > 0.2
