"""Risk models: hand-computed VaR/CVaR, closed forms, invariants (hypothesis), the Kupiec
test, the registry model, and a historical-simulation backtest on real prices."""

from __future__ import annotations

import io
import math
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.forecasting.protocol import Forecaster, ModelKind
from openvpp.forecasting.risk import (
    HistoricalRiskModel,
    analytic_var_cvar,
    decay_weights,
    empirical_max_spike_probability,
    empirical_spike_probability,
    historical_pnl_scenarios,
    kupiec_test,
    max_spike_probability,
    quantile_pnl_scenarios,
    quantile_price_scenarios,
    rolling_historical_var,
    spike_probability,
    var_cvar,
)
from openvpp.forecasting.risk._normal import norm_ppf

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data" / "epftoolbox"
LEVELS = (0.1, 0.5, 0.9)


# ---- VaR / CVaR by hand ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pnl", "alpha", "weights", "expected", "var", "cvar"),
    [
        # losses -10, -5, 0, 5, 10 (equal weights 0.2): F(5) = 0.8
        ([10, 5, 0, -5, -10], 0.8, None, 0.0, 5.0, 10.0),
        # worst 30 %: 20 % at 10 and 10 % of the atom at 5
        ([10, 5, 0, -5, -10], 0.7, None, 0.0, 5.0, (0.2 * 10 + 0.1 * 5) / 0.3),
        # centred on the mean (100) by default: same losses
        ([110, 105, 100, 95, 90], 0.7, None, None, 5.0, (0.2 * 10 + 0.1 * 5) / 0.3),
        # atoms: losses 0, 0, 0, 10, 10; F(0) = 0.6 >= 0.5, tail = 40 % at 10 + 10 % at 0
        ([0, 0, 0, -10, -10], 0.5, None, 0.0, 0.0, 8.0),
        ([0, 0, 0, -10, -10], 0.7, None, 0.0, 10.0, 10.0),
        # weights 0.5 / 0.3 / 0.2 on losses 1, 2, 3: F(2) = 0.8 >= 0.75
        ([-1, -2, -3], 0.75, [5, 3, 2], 0.0, 2.0, (0.2 * 3 + 0.05 * 2) / 0.25),
        # 20 equal scenarios, alpha 0.95: F(19) = 0.95 exactly (not one further)
        (list(range(-1, -21, -1)), 0.95, None, 0.0, 19.0, 20.0),
    ],
)
def test_var_cvar_by_hand(
    pnl: list[float],
    alpha: float,
    weights: list[float] | None,
    expected: float | None,
    var: float,
    cvar: float,
) -> None:
    got = var_cvar(pnl, alpha, weights=weights, expected=expected)
    assert got == pytest.approx((var, cvar), abs=1e-9)


def test_decay_weights_halve_every_half_life() -> None:
    w = decay_weights(5, 2.0)
    assert w.sum() == pytest.approx(1.0)
    assert w[-1] / w[-3] == pytest.approx(2.0)
    assert decay_weights(4, None).tolist() == [0.25] * 4


def test_historical_scenarios_apply_forecast_errors() -> None:
    prices = np.array([[10.0, 20.0], [30.0, 10.0]])
    forecasts = np.array([[12.0, 18.0], [25.0, 15.0]])
    vol = np.array([1.0, -2.0])  # sell 1 MWh, buy 2 MWh
    pnl = historical_pnl_scenarios(vol, prices, [50.0, 40.0], forecast_history=forecasts)
    # day 0: prices 48, 42 -> 48 - 84; day 1: 55, 35 -> 55 - 70
    assert pnl.tolist() == pytest.approx([-36.0, -15.0])
    assert historical_pnl_scenarios(vol, prices).tolist() == pytest.approx([-30.0, 10.0])


# ---- quantile forecasts --------------------------------------------------------------------
def test_quantile_method_matches_the_normal_closed_form() -> None:
    levels = np.linspace(0.01, 0.99, 99)
    mu, sigma, volume, alpha = 50.0, 10.0, 2.0, 0.95
    values = mu + sigma * norm_ppf(levels)
    z = float(norm_ppf(alpha))
    normal_var = volume * sigma * z
    normal_cvar = volume * sigma * math.exp(-z * z / 2) / math.sqrt(2 * math.pi) / (1 - alpha)
    var, cvar = analytic_var_cvar(volume, levels, values, alpha)
    assert var == pytest.approx(normal_var, rel=1e-9)  # 0.05 is one of the levels
    assert cvar == pytest.approx(normal_cvar, rel=0.01)  # tails beyond p1/p99 approximated
    pnl, expected = quantile_pnl_scenarios([volume], levels, values[None, :], n_scenarios=200_000)
    assert expected == pytest.approx(volume * mu)
    mc = var_cvar(pnl, alpha, expected=expected)
    assert mc == pytest.approx((normal_var, normal_cvar), rel=0.02)
    # a purchase loses on high prices; the distribution is symmetric
    assert analytic_var_cvar(-volume, levels, values, alpha) == pytest.approx((var, cvar))


@pytest.mark.parametrize("tail", ["linear", "exponential"])
def test_analytic_var_cvar_matches_simulation_on_p10_p50_p90(tail: str) -> None:
    values = np.array([[20.0, 40.0, 80.0]])
    pnl, expected = quantile_pnl_scenarios(
        [1.0],
        LEVELS,
        values,
        n_scenarios=400_000,
        seed=3,
        tail=tail,  # type: ignore[arg-type]
    )
    for volume in (1.0, -1.0):
        exact = analytic_var_cvar(volume, LEVELS, values[0], 0.95, tail)  # type: ignore[arg-type]
        mc = var_cvar(volume * pnl, 0.95, expected=volume * expected)
        assert mc == pytest.approx(exact, rel=0.02)


def test_spike_probability_by_hand() -> None:
    values = [[20.0, 40.0, 80.0]]
    at = {t: float(spike_probability(LEVELS, values, t)[0]) for t in (20, 40, 60, 80, 100)}
    assert at[20] == pytest.approx(0.9)
    assert at[40] == pytest.approx(0.5)
    assert at[60] == pytest.approx(0.3)
    assert at[80] == pytest.approx(0.1)
    # exponential tail with scale slope * (1 - 0.9) = 100 * 0.1 = 10
    assert at[100] == pytest.approx(0.1 * math.exp(-2))
    # linear tail ends at 80 + 100 * 0.1 = 90
    assert spike_probability(LEVELS, values, 85, "linear")[0] == pytest.approx(0.05)
    assert spike_probability(LEVELS, values, 95, "linear")[0] == 0.0


def test_max_spike_probability_between_independence_and_comonotonicity() -> None:
    values = np.array([[20.0, 40.0, 80.0], [10.0, 30.0, 50.0]])
    p = spike_probability(LEVELS, values, 45.0)
    assert max_spike_probability(LEVELS, values, 45.0, 0.0) == pytest.approx(
        1 - np.prod(1 - p), abs=1e-6
    )
    assert max_spike_probability(LEVELS, values, 45.0, 1.0) == pytest.approx(p.max())
    sims = quantile_price_scenarios(LEVELS, values, n_scenarios=200_000, correlation=0.6)
    assert max_spike_probability(LEVELS, values, 45.0, 0.6) == pytest.approx(
        (sims.max(axis=1) > 45.0).mean(), abs=0.005
    )


# ---- invariants ----------------------------------------------------------------------------
finite = st.floats(-500, 500, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    pnl=st.lists(finite, min_size=1, max_size=60),
    a1=st.floats(0.5, 0.99),
    a2=st.floats(0.5, 0.99),
)
def test_cvar_at_least_var_and_both_monotone_in_alpha(
    pnl: list[float], a1: float, a2: float
) -> None:
    lo, hi = sorted((a1, a2))
    var_lo, cvar_lo = var_cvar(pnl, lo)
    var_hi, cvar_hi = var_cvar(pnl, hi)
    assert cvar_lo >= var_lo - 1e-9
    assert cvar_hi >= var_hi - 1e-9
    assert var_hi >= var_lo - 1e-9
    assert cvar_hi >= cvar_lo - 1e-7


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    k=st.floats(0.01, 100),
    half_life=st.one_of(st.none(), st.floats(1, 100)),
)
def test_risk_scales_with_the_schedule_and_vanishes_without_one(
    seed: int, k: float, half_life: float | None
) -> None:
    rng = np.random.default_rng(seed)
    prices = rng.normal(50, 15, (40, 6))
    vol = rng.normal(0, 3, 6)
    w = decay_weights(40, half_life)
    base = var_cvar(historical_pnl_scenarios(vol, prices), 0.9, weights=w)
    scaled = var_cvar(historical_pnl_scenarios(k * vol, prices), 0.9, weights=w)
    assert scaled == pytest.approx((k * base[0], k * base[1]), rel=1e-9, abs=1e-9)
    assert var_cvar(historical_pnl_scenarios(np.zeros(6), prices), 0.9) == (0.0, 0.0)
    q = np.sort(rng.normal(50, 15, (6, 3)), axis=1)
    pnl, expected = quantile_pnl_scenarios(np.zeros(6), LEVELS, q, n_scenarios=500)
    assert var_cvar(pnl, 0.9, expected=expected) == (0.0, 0.0)
    pnl1, e1 = quantile_pnl_scenarios(vol, LEVELS, q, n_scenarios=500, correlation=0.3)
    pnlk, ek = quantile_pnl_scenarios(k * vol, LEVELS, q, n_scenarios=500, correlation=0.3)
    one, many = var_cvar(pnl1, 0.9, expected=e1), var_cvar(pnlk, 0.9, expected=ek)
    assert many == pytest.approx((k * one[0], k * one[1]), rel=1e-6, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-100, 1000), min_size=3, max_size=3).map(sorted),
    t1=st.floats(-300, 1500),
    t2=st.floats(-300, 1500),
    tail=st.sampled_from(["linear", "exponential"]),
)
def test_spike_probability_is_a_probability_non_increasing_in_threshold(
    values: list[float], t1: float, t2: float, tail: str
) -> None:
    lo, hi = sorted((t1, t2))
    p_lo = float(spike_probability(LEVELS, [values], lo, tail)[0])  # type: ignore[arg-type]
    p_hi = float(spike_probability(LEVELS, [values], hi, tail)[0])  # type: ignore[arg-type]
    assert 0 <= p_hi <= p_lo <= 1


def test_empirical_spike_frequencies_are_leak_free() -> None:
    prices = np.array([[10.0, 10.0], [100.0, 10.0], [10.0, 10.0], [100.0, 100.0]])
    p = empirical_spike_probability(prices, 50.0, prior_days=0.0)
    assert np.isnan(p[0]).all()
    assert p[1].tolist() == [0.0, 0.0]  # day 1's own spike is not yet known
    assert p[2].tolist() == [0.5, 0.0]
    assert p[3].tolist() == pytest.approx([1 / 3, 0.0])
    smoothed = empirical_spike_probability(prices, 50.0, prior_days=2.0, window=2)
    # day 3 from days 1-2: k = (1, 0), pooled 0.25 -> (1 + 0.5) / 4, (0 + 0.5) / 4
    assert smoothed[3].tolist() == pytest.approx([0.375, 0.125])
    daily = empirical_max_spike_probability(prices, 50.0)
    assert daily[1:].tolist() == pytest.approx([0.25, 1.5 / 3, 1.5 / 4])


# ---- Kupiec ----------------------------------------------------------------------------------
def test_kupiec_statistic_by_hand() -> None:
    flags = np.zeros(250, dtype=bool)
    flags[:5] = True
    res = kupiec_test(flags, 0.99)
    # -2 [245 ln 0.99 + 5 ln 0.01 - 245 ln 0.98 - 5 ln 0.02]
    lr = -2 * (245 * math.log(0.99 / 0.98) + 5 * math.log(0.01 / 0.02))
    assert (res.n, res.exceedances) == (250, 5)
    assert res.expected == pytest.approx(2.5)
    assert res.lr == pytest.approx(lr) == pytest.approx(1.956810, abs=1e-6)
    assert res.p_value == pytest.approx(0.161855, abs=1e-6)
    perfect = kupiec_test(np.array([True] + [False] * 99), 0.99)
    assert perfect.lr == pytest.approx(0.0, abs=1e-12)
    assert perfect.p_value == pytest.approx(1.0)
    assert kupiec_test(np.zeros(1000, dtype=bool), 0.95).p_value < 1e-10


# ---- the registry model ----------------------------------------------------------------------
def _history(days: int = 120, forecast: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    idx = pd.date_range("2024-01-01", periods=24 * days, freq="h", tz="UTC")
    hour = idx.tz_convert("Europe/Berlin").hour.to_numpy()
    price = 50 + 20 * np.sin(hour / 24 * 2 * np.pi) + rng.normal(0, 8, idx.size)
    frame = pd.DataFrame({"target": price}, index=idx)
    if forecast:
        frame["forecast"] = price + rng.normal(0, 4, idx.size)
    return frame


def test_model_predicts_quantiles_and_spikes_and_assesses_both_ways() -> None:
    history = _history()
    model = HistoricalRiskModel(alpha=0.9, tz="Europe/Berlin", half_life_days=30).fit(history)
    assert isinstance(model, Forecaster)
    assert model.kind is ModelKind.RISK
    horizon = pd.date_range(history.index[-1] + pd.Timedelta("1h"), periods=24, freq="h")
    pred = model.predict(history, horizon)
    assert list(pred.columns) == ["p10", "p50", "p90", "spike_prob"]
    assert (pred["p10"] <= pred["p50"]).all()
    assert (pred["p50"] <= pred["p90"]).all()
    assert pred["spike_prob"].between(0, 1).all()
    sale = pd.Series(1.0, index=horizon)
    hist = model.assess(sale)
    quant = model.assess(sale, pred[["p10", "p50", "p90"]])
    assert (hist.method, quant.method) == ("historical", "quantile")
    assert quant.n_scenarios == model.n_scenarios
    for report in (hist, quant):
        assert 0 < report.var <= report.cvar
        assert report.spike_prob.index.equals(horizon)
        assert report.spike_prob_max >= report.spike_prob.max() - 1e-12
    # 24 hourly deviations of sd about 11 (difference of two N(0, 8)) + the daily profile
    assert 10 < hist.var < 80
    assert model.assess(sale * 0).var == 0.0


def test_model_uses_the_forecast_column_and_round_trips_through_joblib() -> None:
    history = _history(forecast=True)
    model = HistoricalRiskModel(alpha=0.95, threshold=60.0).fit(history)
    horizon = pd.date_range(history.index[-1] + pd.Timedelta("1h"), periods=24, freq="h")
    future = pd.DataFrame({"target": np.nan, "forecast": 55.0}, index=horizon)
    ask = pd.concat([history, future])
    pred = model.predict(ask, horizon)
    # forecast errors have sd 4: the p10-p90 band is about 2 * 1.28 * 4 wide around 55
    assert pred["p50"].to_numpy() == pytest.approx(55.0, abs=1.5)
    assert float((pred["p90"] - pred["p10"]).mean()) == pytest.approx(10.3, rel=0.2)
    sale = pd.Series(2.0, index=horizon)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    clone = joblib.load(buffer)
    pd.testing.assert_frame_equal(clone.predict(ask, horizon), pred)
    for forecast in (None, pred[["p10", "p50", "p90"]]):
        a, b = model.assess(sale, forecast), clone.assess(sale, forecast)
        assert (a.var, a.cvar, a.expected_pnl) == (b.var, b.cvar, b.expected_pnl)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda m, h, i: m.predict(h, i.tz_localize(None)), "index"),
        (lambda m, h, i: m.assess([1.0] * len(i)), "volumes"),
        (lambda m, h, i: m.assess(pd.Series(np.nan, index=i)), "volumes"),
        (lambda m, h, i: m.assess(pd.Series(1.0, index=i + pd.Timedelta("7min"))), "volumes"),
        (lambda m, h, i: m.assess(pd.Series(1.0, index=i), method="quantile"), "price_forecast"),
        (
            lambda m, h, i: m.assess(pd.Series(1.0, index=i), pd.DataFrame({"p50": 1.0}, i)),
            "price_forecast",
        ),
        (lambda m, h, i: m.assess(pd.Series(1.0, index=i), method="magic"), "method"),
        (lambda m, h, i: m.predict(h.drop(columns="target"), i), "target"),
    ],
)
def test_bad_input_is_refused_naming_the_field(call: object, field: str) -> None:
    history = _history(days=30)
    model = HistoricalRiskModel().fit(history)
    horizon = pd.date_range(history.index[-1] + pd.Timedelta("1h"), periods=24, freq="h")
    with pytest.raises(ValueError, match=field):
        call(model, history, horizon)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"alpha": 1.0}, "alpha"),
        ({"half_life_days": 0}, "half_life_days"),
        ({"correlation": 2.0}, "correlation"),
        ({"tail": "fat"}, "tail"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        HistoricalRiskModel(**kwargs)  # type: ignore[arg-type]


def test_unfitted_model_and_bad_arrays_are_refused() -> None:
    with pytest.raises(ValueError, match="not fitted"):
        HistoricalRiskModel().assess(pd.Series(dtype=float))
    with pytest.raises(ValueError, match="alpha"):
        var_cvar([1.0, 2.0], 1.5)
    with pytest.raises(ValueError, match="pnl_scenarios"):
        var_cvar([1.0, np.nan])
    with pytest.raises(ValueError, match="weights"):
        var_cvar([1.0, 2.0], weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="levels"):
        spike_probability([0.5, 0.1], [[1.0, 2.0]], 1.0)
    with pytest.raises(ValueError, match="values"):
        spike_probability(LEVELS, [[3.0, 2.0, 1.0]], 1.0)
    with pytest.raises(ValueError, match="volumes_mwh"):
        historical_pnl_scenarios([1.0], np.ones((3, 2)))


# ---- real data -------------------------------------------------------------------------------
def test_historical_var_backtest_on_nord_pool() -> None:
    path = SHARED / "datasets" / "NP.csv"
    if not path.exists():
        pytest.skip(f"epftoolbox data not found at {path} (../shared/data is optional)")
    from openvpp.forecasting.metrics import naive_forecast
    from openvpp.forecasting.price.data import load_day_matrix

    dm = load_day_matrix(path)
    naive = np.full_like(dm.prices, np.nan)
    values, target = naive_forecast(dm.prices, dm.dates, "standard")
    naive[target] = values
    res = rolling_historical_var(
        np.ones(24),
        dm.prices,
        naive,
        window=365,
        alphas=(0.95, 0.99),
        first_day=dm.n_days - 728,
        half_life_days=90.0,
    )
    k95, k99 = res.kupiec()
    # recorded in docs/benchmarks.md: 42 and 14 exceedances of 728 days
    assert (k95.exceedances, k99.exceedances) == (42, 14)
    assert k95.p_value > 0.05
    assert np.all(res.cvar >= res.var)
