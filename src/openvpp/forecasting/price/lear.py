"""LEAR: LASSO-estimated autoregressive day-ahead price model (Uniejewski, Nowotarski, Weron
2016; Lago, Marcjasz, De Schutter, Weron 2021), written from the papers.

For delivery day D and hour h, one linear model per hour predicts the variance-stabilised price
from the prices of D-1, D-2, D-3 and D-7 (all 24 hours each), the exogenous day-ahead forecasts
of D, D-1 and D-7 (all 24 hours of each column) and 7 day-of-week dummies. Per calibration
window (the last ``W`` days before D) every feature column and every hour's price is
normalised by its median and MAD (scaled by 1.4826) and passed through ``asinh``.

Regularisation, as in the epftoolbox reference: per hour, the LASSO path of the
column-normalised problem is computed by LARS and the knot with the smallest information
criterion ``RSS / var(y) + 2 df`` is taken (the AIC of scikit-learn's ``LassoLarsIC`` before
1.1, which epftoolbox used); that ``alpha`` then refits a LASSO on the un-normalised features by
coordinate descent. Speed-ups that keep the estimator:

- one Gram matrix per (day, window) serves all 24 hours;
- the AIC of every path knot comes from the Gram matrix, not from residual vectors;
- the daily refit is warm-started from the previous day's coefficients (same optimum, fewer
  sweeps);
- ``select_every`` > 1 re-runs the LARS selection of ``alpha`` only every few days; the
  coefficients are still refitted every day (measured in ``bench/bench_lear.py``);
- the calibration windows run in parallel processes.

The ensemble forecast is the mean over windows, in price space.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import lars_path_gram, lasso_path

__all__ = [
    "DEFAULT_WINDOWS",
    "EXOGENOUS_LAGS",
    "PRICE_LAGS",
    "LearConfig",
    "WindowState",
    "build_features",
    "fit_predict",
    "forecast_day",
    "forecast_days",
    "forecast_window",
    "robust_scale",
]

FloatArray = NDArray[np.float64]
HOURS = 24
DEFAULT_WINDOWS: tuple[int, ...] = (56, 84, 1092, 1456)
PRICE_LAGS: tuple[int, ...] = (1, 2, 3, 7)
EXOGENOUS_LAGS: tuple[int, ...] = (0, 1, 7)
MAX_LAG = 7
N_DUMMIES = 7
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True, slots=True)
class LearConfig:
    """LEAR settings.

    windows : calibration windows [days]; the ensemble averages their forecasts.
    select_every : re-select each hour's ``alpha`` by LARS-AIC every this many test days
        [days]; 1 is the reference protocol.
    max_iter : iteration cap of LARS and of the coordinate descent refit.
    tol : coordinate descent tolerance (scikit-learn's ``Lasso`` convention).
    n_jobs : worker processes; windows are spread over them.
    """

    windows: tuple[int, ...] = DEFAULT_WINDOWS
    select_every: int = 1
    max_iter: int = 2500
    tol: float = 1e-4
    n_jobs: int = 2

    def __post_init__(self) -> None:
        if not self.windows or min(self.windows) < 2:
            raise ValueError(f"windows must be at least 2 days, got {self.windows}")
        if self.select_every < 1:
            raise ValueError(f"select_every must be >= 1, got {self.select_every}")
        if self.n_jobs < 1:
            raise ValueError(f"n_jobs must be >= 1, got {self.n_jobs}")


def build_features(
    prices: FloatArray, exogenous: FloatArray, day_of_week: NDArray[np.int64]
) -> FloatArray:
    """LEAR regressors of every day, ``(n_days, 24 * (4 + 3 k) + 7)``.

    prices : ``(n_days, 24)`` [currency/MWh]; may be shorter by one day than ``exogenous``
        (the forecast day), since row D only uses prices of D-1 and earlier.
    exogenous : ``(n_days, 24, k)`` day-ahead forecasts [column units].
    day_of_week : ``(n_days,)``, Monday = 0.

    Rows before day 7 (no D-7 lag) are NaN. The last 7 columns are day-of-week dummies.
    """
    n_days = exogenous.shape[0]
    if prices.shape[0] not in (n_days, n_days - 1):
        raise ValueError(f"prices cover {prices.shape[0]} days, exogenous {n_days}")
    assert min(PRICE_LAGS) >= 1, "a price feature of day D must come from before D"
    k = exogenous.shape[2]
    n_cols = HOURS * (len(PRICE_LAGS) + len(EXOGENOUS_LAGS) * k) + N_DUMMIES
    x = np.full((n_days, n_cols), np.nan)
    t = np.arange(MAX_LAG, n_days)
    blocks = [prices[t - lag] for lag in PRICE_LAGS]
    blocks += [exogenous[t - lag, :, j] for lag in EXOGENOUS_LAGS for j in range(k)]
    blocks.append(np.eye(N_DUMMIES)[day_of_week[t]])
    if t.size:
        x[t] = np.concatenate(blocks, axis=1)
    return x


def robust_scale(a: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Column medians and MADs [column units]; a zero MAD becomes 1 (constant column)."""
    med = np.median(a, axis=0)
    mad = np.median(np.abs(a - med), axis=0) * MAD_TO_SIGMA
    return med, np.where(mad > 0, mad, 1.0)


def _select_alphas(gram: FloatArray, xy: FloatArray, y: FloatArray, max_iter: int) -> FloatArray:
    """Per target column, the LASSO ``alpha`` with the smallest AIC on the LARS path.

    gram, xy : Gram matrix and ``X.T @ y`` of the centred, column-normalised regressors.
    y : ``(n, 24)`` centred targets.
    """
    n = y.shape[0]
    yy = np.einsum("ij,ij->j", y, y)
    alphas = np.empty(y.shape[1])
    eps = float(np.finfo(np.float64).eps)
    for h in range(y.shape[1]):
        path_alphas, _, coefs = lars_path_gram(
            xy[:, h], gram, n_samples=n, method="lasso", max_iter=max_iter
        )
        rss = yy[h] - 2.0 * (xy[:, h] @ coefs) + np.einsum("ik,ik->k", coefs, gram @ coefs)
        df = np.count_nonzero(np.abs(coefs) > eps, axis=0)
        criterion = np.maximum(rss, 0.0) / (yy[h] / n + eps) + 2.0 * df
        alphas[h] = path_alphas[int(np.argmin(criterion))]
    return alphas


@dataclass(slots=True)
class WindowState:
    """What one calibration window carries from day to day: the selected penalties and the
    last coefficients (warm start)."""

    alphas: FloatArray | None = None
    coef: FloatArray | None = None
    scaling: tuple[FloatArray, ...] | None = None
    """The newest fit's transform: feature median and MAD, mean of the transformed features,
    mean of the transformed prices, price median and MAD."""


def fit_predict(
    x_train: FloatArray,
    y_train: FloatArray,
    x_next: FloatArray,
    state: WindowState,
    *,
    select: bool,
    config: LearConfig,
) -> FloatArray:
    """Fit the 24 hourly models on one calibration window and forecast the next day [price]."""
    nf = x_train.shape[1] - N_DUMMIES
    med_x, mad_x = robust_scale(x_train[:, :nf])
    xs = x_train.copy()
    xs[:, :nf] = np.arcsinh((x_train[:, :nf] - med_x) / mad_x)
    xn_next = x_next.copy()
    xn_next[:nf] = np.arcsinh((x_next[:nf] - med_x) / mad_x)
    med_y, mad_y = robust_scale(y_train)
    ys = np.arcsinh((y_train - med_y) / mad_y)

    x_mean, y_mean = xs.mean(axis=0), ys.mean(axis=0)
    state.scaling = (med_x, mad_x, x_mean, y_mean, med_y, mad_y)
    xc = np.asfortranarray(xs - x_mean)
    yc = ys - y_mean
    gram = np.ascontiguousarray(xc.T @ xc)
    xy = np.asfortranarray(xc.T @ yc)
    if select or state.alphas is None:
        norms = np.sqrt(np.diag(gram))
        norms = np.where(norms > 0, norms, 1.0)
        state.alphas = _select_alphas(
            gram / np.outer(norms, norms), xy / norms[:, None], yc, config.max_iter
        )
    coef = np.zeros((xc.shape[1], HOURS)) if state.coef is None else state.coef.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for h in range(HOURS):
            _, path, _ = lasso_path(
                xc,
                np.ascontiguousarray(yc[:, h]),
                alphas=[state.alphas[h]],
                precompute=gram,
                Xy=xy[:, h],
                coef_init=np.ascontiguousarray(coef[:, h]),
                max_iter=config.max_iter,
                tol=config.tol,
                check_input=False,
            )
            coef[:, h] = path[:, -1]
    state.coef = coef
    pred_scaled = y_mean + (xn_next - x_mean) @ coef
    return np.asarray(med_y + mad_y * np.sinh(pred_scaled), dtype=np.float64)


def forecast_window(
    features: FloatArray,
    prices: FloatArray,
    test_days: Sequence[int],
    window: int,
    config: LearConfig,
    progress: Callable[[int], None] | None = None,
) -> FloatArray:
    """Daily-recalibrated forecasts of one calibration window, ``(len(test_days), 24)`` [price].

    features : ``build_features`` output covering at least ``max(test_days) + 1`` days.
    prices : ``(n, 24)`` with ``n >= max(test_days)``; the fit for day D reads rows < D only.
    test_days : increasing day indices to forecast (each >= 8).
    """
    state = WindowState()
    out = np.empty((len(test_days), HOURS))
    first = test_days[0] if len(test_days) else 0
    for i, d in enumerate(test_days):
        lo = max(MAX_LAG, d - window)
        if d - lo < 2:
            raise ValueError(f"day {d}: fewer than 2 training days after the {MAX_LAG}-day lag")
        x_train, y_train = features[lo:d], prices[lo:d]
        # Leak guard: the training targets end strictly before the forecast day.
        assert lo + y_train.shape[0] == d, "training rows must end at D-1"
        out[i] = fit_predict(
            x_train,
            y_train,
            features[d],
            state,
            select=(d - first) % config.select_every == 0,
            config=config,
        )
        if progress is not None:
            progress(d)
    return out


def forecast_day(
    prices_before: FloatArray,
    exogenous: FloatArray,
    day_of_week: NDArray[np.int64],
    window: int,
    config: LearConfig | None = None,
) -> FloatArray:
    """One LEAR forecast of the 24 prices of day D = ``len(prices_before)`` [price].

    prices_before : ``(D, 24)`` prices up to D-1 [currency/MWh].
    exogenous : ``(D + 1, 24, k)`` day-ahead forecasts up to and including D.
    day_of_week : ``(D + 1,)``.
    """
    d = prices_before.shape[0]
    if exogenous.shape[0] != d + 1 or day_of_week.shape[0] != d + 1:
        raise ValueError("exogenous and day_of_week must cover the prices' days plus day D")
    features = build_features(prices_before, exogenous, day_of_week)
    out = forecast_window(features, prices_before, [d], window, config or LearConfig())
    return np.asarray(out[0], dtype=np.float64)


def forecast_days(
    prices: FloatArray,
    exogenous: FloatArray,
    day_of_week: NDArray[np.int64],
    test_days: Sequence[int],
    config: LearConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[FloatArray, dict[int, FloatArray]]:
    """LEAR ensemble forecasts for ``test_days`` with daily recalibration [price].

    Returns the ensemble ``(len(test_days), 24)`` (mean over windows) and the forecasts of
    each window. The fit for day D only reads prices of days < D and exogenous forecasts of
    days <= D. ``progress`` (single process only) is called with each finished day index.
    """
    cfg = config or LearConfig()
    features = build_features(prices, exogenous, day_of_week)
    days = list(test_days)
    # The long windows cost most: start them first, the short ones fill in behind.
    order = sorted(cfg.windows, reverse=True)
    if cfg.n_jobs == 1 or len(order) == 1:
        per = {w: forecast_window(features, prices, days, w, cfg, progress) for w in order}
    else:
        from joblib import Parallel, delayed, parallel_config

        # One BLAS thread per worker: the workers already fill the cores.
        with parallel_config(backend="loky", inner_max_num_threads=1):
            jobs = Parallel(n_jobs=min(cfg.n_jobs, len(order)))(
                delayed(forecast_window)(features, prices, days, w, cfg) for w in order
            )
        per = dict(zip(order, jobs, strict=True))
    per = {w: per[w] for w in cfg.windows}
    ensemble = np.mean(np.stack(list(per.values())), axis=0)
    return ensemble, per
