"""Risk of a schedule from a registered risk model: VaR, CVaR and spike probabilities, with
the price forecast known at an instant (the stored predictions of a price model) or by
historical simulation alone."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from openvpp.core.clock import Clock
from openvpp.core.errors import ValidationFailed
from openvpp.forecasting.protocol import QUANTILE_COLUMNS, ModelKind
from openvpp.forecasting.registry.predictions import (
    PredictionService,
    check_usable_at,
    pick_version,
)
from openvpp.forecasting.registry.service import ModelRegistryService, check_era, jsonable
from openvpp.forecasting.risk.model import HistoricalRiskModel
from openvpp.ports import UnitOfWork

__all__ = ["RiskService"]

MAX_SCHEDULE_DAYS = 7


class RiskService:
    def __init__(
        self, clock: Clock, registry: ModelRegistryService, predictions: PredictionService
    ) -> None:
        self._clock = clock
        self._registry = registry
        self._predictions = predictions

    def assess(
        self,
        uow: UnitOfWork,
        organization_id: str,
        model_id: str,
        volumes: pd.Series,
        *,
        version: int | None = None,
        method: Literal["historical", "quantile"] | None = None,
        price_model_id: str | None = None,
        as_of: datetime | None = None,
    ) -> dict[str, Any]:
        """Risk of ``volumes`` (interval start [UTC] -> energy [MWh], positive = sale).

        With ``price_model_id`` the price forecast is the newest stored prediction of that
        model for each interval issued by ``as_of`` (default now); it must cover every
        interval. A risk version trained on data known after ``as_of`` is refused."""
        now = self._clock.now()
        as_of = as_of or now
        if as_of > now:
            raise ValidationFailed("as_of must not be in the future", field="as_of")
        check_era("as_of", as_of)
        if volumes.empty:
            raise ValidationFailed("the schedule is empty", field="volumes")
        index = pd.DatetimeIndex(volumes.index)
        check_era("volumes", index[0], index[-1])
        if index.has_duplicates or not index.is_monotonic_increasing:
            raise ValidationFailed("schedule times must be increasing and unique", field="volumes")
        if index[-1] - index[0] > pd.Timedelta(days=MAX_SCHEDULE_DAYS):
            raise ValidationFailed(
                f"the schedule may span at most {MAX_SCHEDULE_DAYS} days", field="volumes"
            )
        with uow:
            model = self._registry.active_model(uow, organization_id, model_id)
            if model.kind is not ModelKind.RISK:
                raise ValidationFailed(
                    f"model {model.name!r} is a {model.kind.value} model, not a risk model",
                    field="model_id",
                )
            chosen = pick_version(uow, model, version)
            check_usable_at(chosen, as_of, "as_of")
        forecast = None
        if price_model_id is not None:
            known = self._predictions.known_at(
                uow,
                organization_id,
                price_model_id,
                index[0].to_pydatetime(),
                (index[-1] + pd.Timedelta(seconds=1)).to_pydatetime(),
                as_of,
            )
            forecast = known.set_index("target_start")[list(QUANTILE_COLUMNS)]
            missing = index.difference(pd.DatetimeIndex(forecast.index))
            if len(missing):
                raise ValidationFailed(
                    f"the price model has no prediction issued by {as_of.isoformat()} for "
                    f"{len(missing)} interval(s), the first {missing[0].isoformat()}",
                    field="price_model_id",
                )
            forecast = forecast.loc[index]
        elif method == "quantile":
            raise ValidationFailed("method 'quantile' needs price_model_id", field="method")
        risk = self._registry.load(chosen)
        if not isinstance(risk, HistoricalRiskModel):
            raise ValidationFailed("this model cannot assess a schedule", field="model_id")
        try:
            report = risk.assess(volumes, forecast, method)
        except ValueError as exc:
            raise ValidationFailed(str(exc), field="volumes") from None
        result: dict[str, Any] = jsonable(
            {
                "model_id": model.id,
                "version": chosen.version,
                "as_of": as_of,
                "method": report.method,
                "alpha": report.alpha,
                "expected_pnl": report.expected_pnl,
                "var": report.var,
                "cvar": report.cvar,
                "n_scenarios": report.n_scenarios,
                "threshold": report.threshold,
                "spike_prob_max": report.spike_prob_max,
                "spike_prob": [
                    {"start": ts.to_pydatetime(), "p": float(p)}
                    for ts, p in zip(
                        pd.DatetimeIndex(report.spike_prob.index),
                        np.asarray(report.spike_prob, dtype=float),
                        strict=True,
                    )
                ],
                "price_model_id": price_model_id,
                "schedule_span": str((index[-1] - index[0]).to_pytimedelta()),
            }
        )
        return result
