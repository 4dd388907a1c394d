"""Value at risk and conditional value at risk of P&L scenarios, and scenario weights.

Sign convention (the product's): a volume is positive when energy is injected / sold and
negative when it is withdrawn / bought, so the P&L of a schedule ``v`` [MWh] at prices ``p``
[currency/MWh] is ``sum_t v_t * p_t`` [currency]. Risk is measured on the *loss relative to
the expected P&L*::

    loss = expected - pnl      [currency]

(``expected`` defaults to the weighted mean of the scenarios; pass ``expected=0`` to measure
the plain loss ``-pnl``). A positive loss is money below expectation.

Definitions, for loss scenarios ``L_i`` with weights ``w_i`` (summing to 1) and cumulative
distribution ``F(l) = sum_{L_i <= l} w_i``:

- ``VaR_alpha = min{l : F(l) >= alpha}``, the smallest loss not exceeded with probability
  ``alpha`` (the lower ``alpha``-quantile of the loss);
- ``CVaR_alpha = VaR + E[(L - VaR)^+] / (1 - alpha)`` (Rockafellar and Uryasev 2002; equal to
  the "expected shortfall" of Acerbi and Tasche 2002). On a discrete sample this is
  ``(sum_{L_i > VaR} w_i L_i + (F(VaR) - alpha) * VaR) / (1 - alpha)``: the atom at VaR
  contributes only the part of its probability that lies beyond ``alpha``, so CVaR is the mean
  of exactly the worst ``1 - alpha`` of the probability mass, ties or not. ``CVaR >= VaR``
  always, and both scale with the position (positive homogeneity).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["decay_weights", "loss_quantile", "normalise_weights", "var_cvar"]

FloatArray = NDArray[np.float64]

# F(l) >= alpha is tested with this slack, so that e.g. 19 of 20 equal weights (0.95 with
# rounding error) count as reaching alpha = 0.95
_EPS = 1e-12


def _check_alpha(alpha: float) -> float:
    a = float(alpha)
    if not 0 < a < 1:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    return a


def normalise_weights(weights: ArrayLike | None, n: int) -> FloatArray:
    """Weights ``(n,)`` summing to 1 (equal when ``None``); refuses negative, non-finite or
    all-zero ones."""
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    total = float(w.sum())
    if total <= 0:
        raise ValueError("weights must not all be zero")
    return w / total


def var_cvar(
    pnl_scenarios: ArrayLike,
    alpha: float = 0.95,
    *,
    weights: ArrayLike | None = None,
    expected: float | None = None,
) -> tuple[float, float]:
    """VaR and CVaR [currency] of P&L scenarios, as positive loss numbers.

    Parameters
    ----------
    pnl_scenarios : ``(n,)`` P&L of each scenario [currency].
    alpha : confidence level, in (0, 1), e.g. 0.95.
    weights : ``(n,)`` non-negative scenario weights (normalised here); equal when ``None``.
    expected : the reference P&L [currency]; the loss is ``expected - pnl``. Defaults to the
        weighted mean of the scenarios.

    Returns
    -------
    (var, cvar) : see the module docstring for the definitions [currency].
    """
    a = _check_alpha(alpha)
    pnl = np.asarray(pnl_scenarios, dtype=np.float64)
    if pnl.ndim != 1 or pnl.size == 0:
        raise ValueError(f"pnl_scenarios must be a non-empty 1-D array, got shape {pnl.shape}")
    if not np.all(np.isfinite(pnl)):
        raise ValueError("pnl_scenarios must be finite")
    w = normalise_weights(weights, pnl.size)
    ref = float(w @ pnl) if expected is None else float(expected)
    if not np.isfinite(ref):
        raise ValueError(f"expected must be finite, got {expected!r}")
    return _var_cvar_of_losses(ref - pnl, w, a)


def _var_cvar_of_losses(loss: FloatArray, w: FloatArray, alpha: float) -> tuple[float, float]:
    order = np.argsort(loss, kind="stable")
    sorted_loss = loss[order]
    cum = np.cumsum(w[order])
    k = min(int(np.searchsorted(cum, alpha - _EPS, side="left")), loss.size - 1)
    var = float(sorted_loss[k])
    beyond = sorted_loss > var
    # probability mass at or below VaR beyond alpha (0 up to rounding when there is no atom)
    at_var = max(float(w[order][~beyond].sum()) - alpha, 0.0)
    tail = float(w[order][beyond] @ sorted_loss[beyond])
    cvar = (tail + at_var * var) / (1 - alpha)
    # rounding can leave cvar a hair below var when the tail is one atom
    return var, max(cvar, var)


def loss_quantile(losses: ArrayLike, level: float, weights: ArrayLike | None = None) -> float:
    """The lower ``level``-quantile ``min{l : F(l) >= level}`` of weighted losses [unit of
    the losses] (the VaR definition without centring)."""
    a = _check_alpha(level)
    x = np.asarray(losses, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError("losses must be a non-empty finite 1-D array")
    return _var_cvar_of_losses(x, normalise_weights(weights, x.size), a)[0]


def decay_weights(n: int, half_life: float | None) -> FloatArray:
    """Exponentially decaying weights of ``n`` scenarios ordered oldest first [-], summing to 1.

    The newest scenario (last) has the largest weight; a scenario ``half_life`` positions
    older weighs half as much. ``half_life=None`` gives equal weights.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if half_life is None:
        return np.full(n, 1.0 / n)
    if not np.isfinite(half_life) or half_life <= 0:
        raise ValueError(f"half_life must be positive, got {half_life!r}")
    age = np.arange(n - 1, -1, -1, dtype=np.float64)
    w = np.exp2(-age / float(half_life))
    return np.asarray(w / w.sum(), dtype=np.float64)
