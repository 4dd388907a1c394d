"""Forecasting: price, load, PV and wind forecasters, their metrics, market conditions."""
