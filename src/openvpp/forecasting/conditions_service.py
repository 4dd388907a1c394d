"""Market conditions of a stored price series, per local delivery day, as known at an
instant (the indicators of :mod:`openvpp.forecasting.conditions`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from openvpp.core.clock import Clock
from openvpp.core.errors import ValidationFailed
from openvpp.forecasting.conditions import ConditionParams, market_conditions
from openvpp.forecasting.price.local_days import to_local_days
from openvpp.forecasting.protocol import TARGET
from openvpp.forecasting.registry.catalog import SeriesRef
from openvpp.forecasting.registry.history import market_zone, series_on_grid
from openvpp.forecasting.registry.service import check_era
from openvpp.ports import UnitOfWork

__all__ = ["MAX_DAYS", "MarketConditionsService"]

MAX_DAYS = 400


class MarketConditionsService:
    def __init__(self, clock: Clock, params: ConditionParams | None = None) -> None:
        self._clock = clock
        self._params = params or ConditionParams()

    def conditions(
        self,
        uow: UnitOfWork,
        organization_id: str,
        ref: SeriesRef,
        first_day: date,
        end_day: date,
        as_of: datetime | None = None,
    ) -> pd.DataFrame:
        """Spread, mean, volatility, regime, scarcity and negative share per local day in
        ``[first_day, end_day)`` of the market's time zone, from the hourly values known at
        ``as_of`` (default now). The indicators read the ``lookback`` days before each day;
        days without all 24 hourly values are left out (and do not count as history)."""
        check_era("start", first_day)
        check_era("end", end_day)
        check_era("as_of", as_of)
        if end_day <= first_day:
            raise ValidationFailed("end must be after start", field="end")
        if (end_day - first_day).days > MAX_DAYS:
            raise ValidationFailed(f"at most {MAX_DAYS} days per query", field="end")
        zone = market_zone(ref.market)
        tz = ZoneInfo(zone)
        history_days = self._params.lookback + self._params.window
        start = datetime.combine(first_day - timedelta(days=history_days), time(), tz)
        end = datetime.combine(end_day, time(), tz)
        with uow:
            values, _ = series_on_grid(
                uow, organization_id, ref, start, end, as_of or self._clock.now(), 60
            )
        columns = ["day", "spread", "mean", "volatility", "regime", "scarcity", "negative"]
        if values.empty:
            return pd.DataFrame(columns=columns)
        grid = pd.date_range(values.index[0], values.index[-1], freq="h")
        days = to_local_days(pd.DataFrame({TARGET: values.reindex(grid)}), zone)
        complete = np.isfinite(days.prices).all(axis=1)
        if not complete.any():
            return pd.DataFrame(columns=columns)
        table = market_conditions(days.prices[complete], days.dates[complete], self._params)
        table = table.reset_index(names="day")
        table["day"] = pd.to_datetime(table["day"]).dt.date
        keep = (table["day"] >= first_day) & (table["day"] < end_day)
        return table.loc[keep, columns].reset_index(drop=True)
