"""Where automatic bidding's price forecast comes from: the configured registry price model's
prediction issued at decision time, else the seasonal-naive forecast from stored prices
(:mod:`openvpp.trading.autobid_forecast`); neither is a :class:`ValidationFailed` naming
``forecast``. The returned description (source, model, version, run, issue time, unit, naive
lags and spread) is recorded with the decision."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from openvpp.core.errors import DomainError, ValidationFailed
from openvpp.forecasting.registry.predictions import PredictionService
from openvpp.identity.model import Principal
from openvpp.markets.calendar import DeliveryInterval
from openvpp.markets.data_service import MarketDataService
from openvpp.markets.model import Market, Product
from openvpp.markets.records import SeriesKey
from openvpp.ports import UnitOfWork
from openvpp.trading.autobid_forecast import seasonal_naive
from openvpp.trading.autobid_records import AutoTradingSetting
from openvpp.vpp.model import Vpp

__all__ = ["HISTORY_DAYS", "PriceSources"]

UowFactory = Callable[[], UnitOfWork]
HISTORY_DAYS = 35  # the naive forecast's lags and four weeks of its errors


class PriceSources:
    def __init__(self, predictions: PredictionService, market_data: MarketDataService) -> None:
        self._predictions = predictions
        self._market_data = market_data

    def forecast(
        self,
        uows: UowFactory,
        principal: Principal,
        vpp: Vpp,
        setting: AutoTradingSetting | None,
        market: Market,
        product: Product,
        intervals: list[DeliveryInterval],
        now: datetime,
    ) -> tuple[NDArray[np.float64], dict[str, Any]]:
        """(T, 3) p10/p50/p90 prices of the day's intervals and where they came from."""
        org = principal.organization_id
        start, end = intervals[0].start_utc, intervals[-1].end_utc
        index = pd.DatetimeIndex([iv.start_utc for iv in intervals]).tz_convert(UTC)
        source: dict[str, Any] = {}
        if setting is not None and setting.price_model_id is not None:
            try:
                made = self._predictions.predict(
                    uows(), uows(), org, principal.user_id, setting.price_model_id,
                    start, end, issued_at=now,
                )  # fmt: skip
                frame = made.points[["p10", "p50", "p90"]]
                frame.index = pd.DatetimeIndex(frame.index).tz_convert(UTC)
                values = frame.reindex(index, method="ffill").to_numpy(dtype=np.float64)
                if not np.isfinite(values).all():
                    raise ValidationFailed("the prediction does not cover every interval")
                return np.sort(values, axis=1), {
                    "source": "model",
                    "model_id": setting.price_model_id,
                    "version": made.run.version,
                    "run_id": made.run.id,
                    "issued_at": made.run.issued_at.isoformat(),
                    "unit": made.run.unit,
                }
            except DomainError as exc:  # recorded, then the stored prices are tried
                source["model_id"] = setting.price_model_id
                source["model_error"] = exc.message
        key = SeriesKey(market.code, vpp.market_area, product.code, "price")
        data = self._market_data.series(
            uows(), org, key, start - timedelta(days=HISTORY_DAYS), start, as_of=now
        )
        history = {
            pd.Timestamp(s).to_pydatetime(): float(v)
            for s, v in zip(data.points["start"], data.points["value"], strict=True)
        }
        naive = seasonal_naive(history, [iv.start_utc for iv in intervals], product.time_zone)
        where = f"{key.market}/{key.area}/{key.product}/price"
        if not history or naive.missing == len(intervals):
            raise ValidationFailed(
                "no price forecast: "
                + ("the model failed and " if "model_error" in source else "no price model and ")
                + f"no stored prices of {where} known at {now.isoformat()} for the same local "
                "times 7 or 1 days before",
                field="forecast",
            )
        if naive.missing:
            raise ValidationFailed(
                f"no price forecast for {naive.missing} of {len(intervals)} intervals: no "
                f"stored price of {where} for the same local times 7 or 1 days before",
                field="forecast",
            )
        return naive.quantiles, {
            **source,
            "source": "seasonal_naive",
            "series": where,
            "issued_at": now.isoformat(),
            "unit": data.unit,
            **naive.report(),
        }
