"""Day-ahead electricity price forecasting on the epftoolbox protocol.

- :mod:`~openvpp.forecasting.price.data`: epftoolbox-layout files as day matrices.
- :mod:`~openvpp.forecasting.price.lear`: the LEAR model (LASSO-estimated autoregressive).
- :mod:`~openvpp.forecasting.price.runner`: leak-free rolling benchmark with daily recalibration.
"""

from openvpp.forecasting.price.data import DayMatrix, load_day_matrix, to_day_matrix
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
    "DayMatrix",
    "LearConfig",
    "build_features",
    "forecast_day",
    "forecast_days",
    "load_day_matrix",
    "run_benchmark",
    "to_day_matrix",
]
