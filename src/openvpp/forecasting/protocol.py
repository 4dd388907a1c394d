"""The contract between forecasters and the model registry.

A forecaster is a plain, picklable Python object (the registry stores it with ``joblib`` as a
model version's artifact). It is trained with ``fit`` on a history frame and asked with
``predict`` for a horizon of target times.

History frames are indexed by a tz-aware UTC ``DatetimeIndex`` on a regular step (hourly,
15-minute ...), sorted, without duplicates. The column ``target`` holds the series to forecast
in the unit the model documents (e.g. price [currency/MWh], load [kW], PV or wind power [kW]);
any other column is an exogenous input (e.g. ``wind_speed`` [m/s], a load forecast [MW]).

Leak rule, enforced by the registry and expected of every forecaster: at ``predict`` time the
``target`` column holds only values known at the issue time (rows after it are absent or NaN);
exogenous columns may extend over the horizon, because they are themselves forecasts known at
the issue time.

``predict`` returns a frame indexed by the requested times with one column per quantile level
of ``QUANTILE_COLUMNS`` (``p10``, ``p50``, ``p90``), non-decreasing across the columns; ``p50``
is the point forecast.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = [
    "QUANTILES",
    "QUANTILE_COLUMNS",
    "TARGET",
    "Forecaster",
    "ModelKind",
    "check_history",
    "quantile_frame",
]

TARGET = "target"
QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
QUANTILE_COLUMNS: tuple[str, ...] = ("p10", "p50", "p90")


class ModelKind(StrEnum):
    """What a registered model forecasts."""

    PRICE = "price"
    LOAD = "load"
    PV = "pv"
    WIND = "wind"
    RISK = "risk"


@runtime_checkable
class Forecaster(Protocol):
    """A forecaster the registry can train, store and call."""

    kind: ModelKind

    def fit(self, history: pd.DataFrame) -> Any:
        """Train on ``history`` (see the module docstring); returns ``self``."""
        ...

    def predict(self, history: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
        """Quantile forecasts ``p10``/``p50``/``p90`` for ``index`` (UTC) from ``history``."""
        ...


def check_history(history: pd.DataFrame, *, need_target: bool = True) -> None:
    """Raise ``ValueError`` unless ``history`` follows the contract of the module docstring."""
    idx = history.index
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
        raise ValueError("history must be indexed by a tz-aware DatetimeIndex")
    if not idx.is_monotonic_increasing or idx.has_duplicates:
        raise ValueError("history times must be increasing and unique")
    if need_target and TARGET not in history.columns:
        raise ValueError(f"history has no {TARGET!r} column")


def quantile_frame(index: pd.DatetimeIndex, values: np.ndarray[Any, Any]) -> pd.DataFrame:
    """A ``p10``/``p50``/``p90`` frame from ``values`` ``(len(index), 3)``, sorted per row so
    the quantiles never cross."""
    arr = np.sort(np.asarray(values, dtype=np.float64).reshape(len(index), len(QUANTILES)), 1)
    return pd.DataFrame(arr, index=index, columns=list(QUANTILE_COLUMNS))
