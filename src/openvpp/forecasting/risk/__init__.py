"""Risk models: VaR / CVaR of schedules and positions, price-spike probabilities.

Pure numpy/pandas: ``measures`` (VaR, CVaR, scenario weights), ``historical`` (historical
simulation, empirical spike frequencies), ``quantile`` (distributions and correlated
scenarios from quantile forecasts), ``backtest`` (Kupiec test, rolling VaR backtest, Brier
scores) and ``model`` (``HistoricalRiskModel``, the registry's ``ModelKind.RISK`` model).
Sign convention: volumes [MWh] positive = sale / injection; loss = expected P&L - P&L.
"""

from openvpp.forecasting.risk.backtest import (
    KupiecResult,
    RollingVar,
    brier_score,
    brier_skill_score,
    kupiec_test,
    rolling_historical_var,
)
from openvpp.forecasting.risk.historical import (
    empirical_max_spike_probability,
    empirical_spike_probability,
    historical_pnl_scenarios,
    historical_price_scenarios,
    scenario_spike_probability,
)
from openvpp.forecasting.risk.measures import (
    decay_weights,
    loss_quantile,
    normalise_weights,
    var_cvar,
)
from openvpp.forecasting.risk.model import FORECAST, HistoricalRiskModel, RiskReport
from openvpp.forecasting.risk.quantile import (
    Tail,
    analytic_var_cvar,
    max_spike_probability,
    normal_scores_correlation,
    quantile_function,
    quantile_mean,
    quantile_pnl_scenarios,
    quantile_price_scenarios,
    spike_probability,
)

__all__ = [
    "FORECAST",
    "HistoricalRiskModel",
    "KupiecResult",
    "RiskReport",
    "RollingVar",
    "Tail",
    "analytic_var_cvar",
    "brier_score",
    "brier_skill_score",
    "decay_weights",
    "empirical_max_spike_probability",
    "empirical_spike_probability",
    "historical_pnl_scenarios",
    "historical_price_scenarios",
    "kupiec_test",
    "loss_quantile",
    "max_spike_probability",
    "normal_scores_correlation",
    "normalise_weights",
    "quantile_function",
    "quantile_mean",
    "quantile_pnl_scenarios",
    "quantile_price_scenarios",
    "rolling_historical_var",
    "scenario_spike_probability",
    "spike_probability",
    "var_cvar",
]
