"""Typed wrappers of the standard normal CDF and its inverse (scipy has no type stubs)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special  # type: ignore[import-untyped]

__all__ = ["norm_cdf", "norm_ppf"]


def norm_cdf(x: ArrayLike) -> NDArray[np.float64]:
    """Standard normal CDF, elementwise [-]."""
    return np.asarray(cast(Any, special.ndtr(np.asarray(x, dtype=np.float64))), np.float64)


def norm_ppf(p: ArrayLike) -> NDArray[np.float64]:
    """Standard normal quantile function, elementwise (``-inf`` at 0, ``inf`` at 1)."""
    return np.asarray(cast(Any, special.ndtri(np.asarray(p, dtype=np.float64))), np.float64)
