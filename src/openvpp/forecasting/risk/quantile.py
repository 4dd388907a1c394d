"""Price distributions from quantile forecasts, correlated scenarios, spike probabilities.

A quantile forecast gives, per delivery interval, prices ``values[t, k]`` [currency/MWh] at
increasing probability ``levels[k]`` (e.g. 0.1, 0.5, 0.9; any set of two or more levels in
(0, 1)). The price distribution of an interval is the quantile function ``Q(u)``:

- between two given levels: linear in ``u`` (a uniform density between given quantiles);
- below the first / above the last level, the ``tail``:

  - ``"exponential"`` (default): an exponential tail whose density joins the neighbouring
    segment's, i.e. ``Q(u) = Q_K - b_K * ln((1 - u) / (1 - q_K))`` above the last level
    with ``b_K = s_K * (1 - q_K)`` (``s_K`` the slope of the last segment), and the mirror
    image below the first level. Unbounded both ways, so spikes far beyond p90 keep a
    probability;
  - ``"linear"``: the first / last segment continued to ``u = 0`` / ``u = 1`` (bounded).

Scenarios across intervals are tied by a Gaussian copula: ``Z ~ N(0, R)``, ``u = Phi(Z)``,
``price_t = Q_t(u_t)``. ``R`` is either one common factor (every pair correlated ``rho``) or a
full correlation matrix, e.g. ``normal_scores_correlation`` of historical forecast errors.
Draws are deterministic for a given ``seed``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openvpp.forecasting.risk._normal import norm_cdf, norm_ppf

__all__ = [
    "Tail",
    "analytic_var_cvar",
    "check_quantiles",
    "max_spike_probability",
    "normal_scores_correlation",
    "quantile_function",
    "quantile_mean",
    "quantile_pnl_scenarios",
    "quantile_price_scenarios",
    "spike_probability",
]

FloatArray = NDArray[np.float64]
Tail = Literal["linear", "exponential"]
_U_MIN = 1e-15  # draws are kept inside (0, 1) so exponential tails stay finite


def check_quantiles(levels: ArrayLike, values: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Validated ``levels (K,)`` and ``values (n, K)`` (a 1-D ``values`` is one interval).

    Levels must be strictly increasing in (0, 1), ``K >= 2``; values finite and
    non-decreasing along each row.
    """
    q = np.asarray(levels, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[None, :]
    if q.ndim != 1 or q.size < 2:
        raise ValueError(f"levels must list at least two quantile levels, got {q.tolist()}")
    if not (np.all(np.diff(q) > 0) and q[0] > 0 and q[-1] < 1):
        raise ValueError(f"levels must increase strictly within (0, 1), got {q.tolist()}")
    if v.ndim != 2 or v.shape[1] != q.size:
        raise ValueError(f"values must have shape (n, {q.size}), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("values must be finite")
    if np.any(np.diff(v, axis=1) < 0):
        raise ValueError("values must be non-decreasing across the levels (quantiles cross)")
    return q, v


def _check_tail(tail: str) -> None:
    if tail not in ("linear", "exponential"):
        raise ValueError(f"tail must be 'linear' or 'exponential', got {tail!r}")


def _slopes(q: FloatArray, v: FloatArray) -> FloatArray:
    """``dQ/du`` of each segment between given levels, ``(n, K - 1)``."""
    return np.diff(v, axis=1) / np.diff(q)


def quantile_function(
    levels: ArrayLike, values: ArrayLike, u: ArrayLike, tail: Tail = "exponential"
) -> FloatArray:
    """``Q_t(u)`` [currency/MWh] for probabilities ``u (..., n)`` (last axis = interval)."""
    q, v = check_quantiles(levels, values)
    _check_tail(tail)
    uu = np.clip(np.asarray(u, dtype=np.float64), _U_MIN, 1 - _U_MIN)
    n, k = v.shape
    s = _slopes(q, v)
    seg = np.clip(np.searchsorted(q, uu, side="right") - 1, 0, k - 2)
    cols = np.broadcast_to(np.arange(n), uu.shape)
    inner = v[cols, seg] + s[cols, seg] * (uu - q[seg])
    lo_s, hi_s = s[:, 0], s[:, -1]
    if tail == "linear":
        lower = v[:, 0] + lo_s * (uu - q[0])
        upper = v[:, -1] + hi_s * (uu - q[-1])
    else:
        lower = v[:, 0] + lo_s * q[0] * np.log(uu / q[0])
        upper = v[:, -1] - hi_s * (1 - q[-1]) * np.log((1 - uu) / (1 - q[-1]))
    return np.where(uu < q[0], lower, np.where(uu > q[-1], upper, inner))


def _integral_to(q: FloatArray, v: FloatArray, x: float, tail: Tail) -> FloatArray:
    """``int_0^x Q_t(u) du`` per interval, ``(n,)``, for ``x`` in [0, 1]."""
    s = _slopes(q, v)
    a = min(x, q[0])
    if tail == "linear":
        low = v[:, 0] * a + s[:, 0] / 2 * ((a - q[0]) ** 2 - q[0] ** 2)
    else:
        log_term = a * np.log(a / q[0]) - a if a > 0 else 0.0
        low = v[:, 0] * a + s[:, 0] * q[0] * log_term
    b = np.clip(x, q[:-1], q[1:]) - q[:-1]  # covered length of each inner segment
    inner = (v[:, :-1] * b + s / 2 * b**2).sum(axis=1)
    c = max(x - q[-1], 0.0)
    if c == 0:
        high = np.zeros(v.shape[0])
    elif tail == "linear":
        high = v[:, -1] * c + s[:, -1] / 2 * c**2
    else:
        r, rest = 1 - q[-1], 1 - x
        log_term = c + (rest * np.log(rest / r) if rest > 0 else 0.0)
        high = v[:, -1] * c + s[:, -1] * r * log_term
    return np.asarray(low + inner + high, dtype=np.float64)


def quantile_mean(levels: ArrayLike, values: ArrayLike, tail: Tail = "exponential") -> FloatArray:
    """Mean price of each interval's distribution, ``int_0^1 Q(u) du`` [currency/MWh]."""
    q, v = check_quantiles(levels, values)
    _check_tail(tail)
    return _integral_to(q, v, 1.0, tail)


def analytic_var_cvar(
    volume_mwh: float,
    levels: ArrayLike,
    values: ArrayLike,
    alpha: float = 0.95,
    tail: Tail = "exponential",
) -> tuple[float, float]:
    """Exact VaR and CVaR [currency] of one interval's position against its distribution.

    The loss is ``volume * (mean - price)``: for a sale (volume > 0) the loss quantile is the
    low-price quantile ``Q(1 - alpha)``, for a purchase the high one ``Q(alpha)``; CVaR is the
    mean of ``Q`` over the tail, integrated in closed form.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    if not np.isfinite(volume_mwh):
        raise ValueError(f"volume_mwh must be finite, got {volume_mwh!r}")
    q, v = check_quantiles(levels, values)
    _check_tail(tail)
    if v.shape[0] != 1:
        raise ValueError("analytic_var_cvar takes the quantiles of one interval")
    mean = float(_integral_to(q, v, 1.0, tail)[0])
    if volume_mwh >= 0:
        lo = 1 - alpha
        var_price = float(quantile_function(q, v, [lo], tail)[0])
        tail_mean = float(_integral_to(q, v, lo, tail)[0]) / lo
        return volume_mwh * (mean - var_price), volume_mwh * (mean - tail_mean)
    var_price = float(quantile_function(q, v, [alpha], tail)[0])
    tail_mean = (mean - float(_integral_to(q, v, alpha, tail)[0])) / (1 - alpha)
    return -volume_mwh * (var_price - mean), -volume_mwh * (tail_mean - mean)


def spike_probability(
    levels: ArrayLike, values: ArrayLike, threshold: float, tail: Tail = "exponential"
) -> FloatArray:
    """``P(price_t > threshold)`` per interval [0..1], from the interpolated CDF ``1 - F``."""
    q, v = check_quantiles(levels, values)
    _check_tail(tail)
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    # nearly equal quantiles can overflow a ratio; the clipping below absorbs the infinities
    with np.errstate(over="ignore"):
        cdf = _cdf(q, v, float(threshold), tail)
    return np.asarray(1 - np.clip(cdf, 0, 1), dtype=np.float64)


def _cdf(q: FloatArray, v: FloatArray, threshold: float, tail: Tail) -> FloatArray:
    """``F_t(threshold)`` per interval (``spike_probability``)."""
    s = _slopes(q, v)
    n, k = v.shape
    # last given level whose price is <= threshold (-1: below them all)
    j = (v <= threshold).sum(axis=1) - 1
    seg = np.clip(j, 0, k - 2)
    rows = np.arange(n)
    lo_v, hi_v = v[rows, seg], v[rows, seg + 1]
    width = hi_v - lo_v
    frac = np.divide(threshold - lo_v, width, out=np.ones(n), where=width > 0)
    cdf = q[seg] + np.clip(frac, 0, 1) * (q[seg + 1] - q[seg])
    d_lo, d_hi = threshold - v[:, 0], threshold - v[:, -1]
    if tail == "linear":
        low = np.where(s[:, 0] > 0, q[0] + d_lo / np.where(s[:, 0] > 0, s[:, 0], 1), 0.0)
        high = np.where(s[:, -1] > 0, q[-1] + d_hi / np.where(s[:, -1] > 0, s[:, -1], 1), 1.0)
    else:
        b_lo, b_hi = s[:, 0] * q[0], s[:, -1] * (1 - q[-1])
        # exponents clipped on the side where the tail formula is not used (no overflow)
        low = np.where(
            b_lo > 0, q[0] * np.exp(np.minimum(d_lo / np.where(b_lo > 0, b_lo, 1), 0)), 0.0
        )
        survival = (1 - q[-1]) * np.exp(-np.maximum(d_hi / np.where(b_hi > 0, b_hi, 1), 0))
        high = 1 - np.where(b_hi > 0, survival, 0.0)
    cdf = np.where(j < 0, low, np.where(j >= k - 1, high, cdf))
    return np.asarray(np.clip(cdf, 0, 1), dtype=np.float64)


def max_spike_probability(
    levels: ArrayLike,
    values: ArrayLike,
    threshold: float,
    rho: float,
    tail: Tail = "exponential",
    n_grid: int = 4000,
) -> float:
    """``P(max_t price_t > threshold)`` [0..1] under a one-factor Gaussian copula ``rho``.

    ``P(all below) = E_f[prod_t Phi((c_t - sqrt(rho) f) / sqrt(1 - rho))]`` with
    ``c_t = Phi^-1(F_t(threshold))``, integrated over the factor on a midpoint grid of
    ``n_grid`` probabilities. ``rho = 0`` gives ``1 - prod(1 - p_t)``, ``rho = 1``
    ``max_t p_t``.
    """
    rho = _check_rho(rho)
    p = spike_probability(levels, values, threshold, tail)
    if rho >= 1:
        return float(p.max())
    c = norm_ppf(1 - p)
    f = norm_ppf((np.arange(n_grid) + 0.5) / n_grid)
    below = norm_cdf((c[None, :] - np.sqrt(rho) * f[:, None]) / np.sqrt(1 - rho))
    return float(np.clip(1 - np.prod(below, axis=1).mean(), p.max(), 1.0))


def _check_rho(rho: float) -> float:
    r = float(rho)
    if not 0 <= r <= 1:
        raise ValueError(f"rho (the common-factor correlation) must be in [0, 1], got {rho!r}")
    return r


def _correlated_normals(
    n: int, n_scenarios: int, correlation: float | ArrayLike, rng: np.random.Generator
) -> FloatArray:
    if np.ndim(correlation) == 0:
        rho = _check_rho(float(correlation))  # type: ignore[arg-type]
        common = rng.standard_normal((n_scenarios, 1))
        own = rng.standard_normal((n_scenarios, n))
        return np.asarray(np.sqrt(rho) * common + np.sqrt(1 - rho) * own, dtype=np.float64)
    r = np.asarray(correlation, dtype=np.float64)
    if r.shape != (n, n) or not np.all(np.isfinite(r)):
        raise ValueError(f"correlation must be a number or a finite ({n}, {n}) matrix")
    if not (np.allclose(r, r.T) and np.allclose(np.diag(r), 1)):
        raise ValueError("correlation matrix must be symmetric with a unit diagonal")
    eigval, eigvec = np.linalg.eigh(r)
    if eigval.min() < -1e-8:
        raise ValueError("correlation matrix must be positive semi-definite")
    factor = eigvec * np.sqrt(np.clip(eigval, 0, None))
    return np.asarray(rng.standard_normal((n_scenarios, n)) @ factor.T, dtype=np.float64)


def quantile_price_scenarios(
    levels: ArrayLike,
    values: ArrayLike,
    *,
    n_scenarios: int = 10_000,
    correlation: float | ArrayLike = 0.0,
    seed: int = 0,
    tail: Tail = "exponential",
) -> FloatArray:
    """Price scenarios ``(n_scenarios, n)`` [currency/MWh] from the Gaussian copula.

    correlation : one common-factor correlation ``rho`` in [0, 1], or an ``(n, n)``
        correlation matrix (positive semi-definite, unit diagonal).
    """
    q, v = check_quantiles(levels, values)
    _check_tail(tail)
    if n_scenarios < 1:
        raise ValueError(f"n_scenarios must be at least 1, got {n_scenarios}")
    z = _correlated_normals(v.shape[0], n_scenarios, correlation, np.random.default_rng(seed))
    return quantile_function(q, v, norm_cdf(z), tail)


def quantile_pnl_scenarios(
    volumes_mwh: ArrayLike,
    levels: ArrayLike,
    values: ArrayLike,
    *,
    n_scenarios: int = 10_000,
    correlation: float | ArrayLike = 0.0,
    seed: int = 0,
    tail: Tail = "exponential",
) -> tuple[FloatArray, float]:
    """P&L scenarios ``(n_scenarios,)`` [currency] of a schedule ``volumes_mwh (n,)`` [MWh]
    against copula price scenarios, and the exact expected P&L ``sum_t v_t * mean_t``."""
    vol = np.asarray(volumes_mwh, dtype=np.float64)
    q, v = check_quantiles(levels, values)
    if vol.shape != (v.shape[0],) or not np.all(np.isfinite(vol)):
        raise ValueError(f"volumes_mwh must be finite with shape ({v.shape[0]},)")
    prices = quantile_price_scenarios(
        q, v, n_scenarios=n_scenarios, correlation=correlation, seed=seed, tail=tail
    )
    return prices @ vol, float(vol @ _integral_to(q, v, 1.0, tail))


def normal_scores_correlation(samples: ArrayLike, shrinkage: float = 0.05) -> FloatArray:
    """Copula correlation ``(m, m)`` of ``samples (n_obs, m)``: Pearson correlation of the
    normal scores of the ranks, shrunk by ``shrinkage`` towards the identity (keeps it
    positive definite when ``n_obs`` is small). Constant columns are uncorrelated."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or not np.all(np.isfinite(x)):
        raise ValueError("samples must be a finite (n_obs >= 2, m) array")
    if not 0 <= shrinkage <= 1:
        raise ValueError(f"shrinkage must be in [0, 1], got {shrinkage!r}")
    n = x.shape[0]
    order = np.argsort(np.argsort(x, axis=0, kind="stable"), axis=0)
    z = norm_ppf((order + 1) / (n + 1))
    constant = np.ptp(x, axis=0) == 0
    z[:, constant] = 0.0
    z = z - z.mean(axis=0)
    norm = np.sqrt((z**2).sum(axis=0))
    z = np.divide(z, norm, out=np.zeros_like(z), where=norm > 0)
    corr = z.T @ z
    np.fill_diagonal(corr, 1.0)
    return np.asarray((1 - shrinkage) * corr + shrinkage * np.eye(x.shape[1]), np.float64)
