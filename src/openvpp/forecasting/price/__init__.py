"""Day-ahead electricity price forecasting on the epftoolbox protocol.

- :mod:`~openvpp.forecasting.price.data`: epftoolbox-layout files as day matrices.
- :mod:`~openvpp.forecasting.price.lear`: the LEAR model (LASSO-estimated autoregressive).
- :mod:`~openvpp.forecasting.price.gbm`: the LightGBM day-ahead model.
- :mod:`~openvpp.forecasting.price.quantiles`: p10/p90 from recent out-of-sample errors.
- :mod:`~openvpp.forecasting.price.runner`: leak-free rolling benchmark with daily
  recalibration of LEAR, LightGBM or their ensemble.
- :mod:`~openvpp.forecasting.price.local_days` and
  :mod:`~openvpp.forecasting.price.forecaster`: the registry's day-ahead price forecaster on
  UTC history frames (local days, DST).
"""

from openvpp.forecasting.price.data import DayMatrix, load_day_matrix, to_day_matrix
from openvpp.forecasting.price.forecaster import DayAheadPriceForecaster
from openvpp.forecasting.price.gbm import GbmConfig
from openvpp.forecasting.price.lear import (
    DEFAULT_WINDOWS,
    LearConfig,
    build_features,
    forecast_day,
    forecast_days,
)
from openvpp.forecasting.price.runner import BenchmarkResult, run_benchmark

__all__ = [
    "DEFAULT_WINDOWS",
    "BenchmarkResult",
    "DayAheadPriceForecaster",
    "DayMatrix",
    "GbmConfig",
    "LearConfig",
    "build_features",
    "forecast_day",
    "forecast_days",
    "load_day_matrix",
    "run_benchmark",
    "to_day_matrix",
]
