"""The simulated exchange: an in-memory venue (:class:`SimulatedExchange`) with historical
replay (:class:`ReplayConfig`) and imbalance prices (:class:`ImbalanceConfig`), and its HTTP
service with fault injection (:mod:`openvpp.markets.exchange.http_app`, imported on demand so
that the domain does not pull in the web stack)."""

from __future__ import annotations

from openvpp.markets.exchange.core import SimulatedExchange
from openvpp.markets.exchange.faults import FaultInjector, FaultMode, FaultSpec, parse_fault
from openvpp.markets.exchange.imbalance_mode import ImbalanceConfig, RealTimeSource
from openvpp.markets.exchange.model import (
    AuctionResult,
    ExchangeOrder,
    ExchangeStatus,
    ExecType,
    Fill,
    FillPage,
    ImbalancePeriod,
    ImbalanceResult,
    MarketDataPoint,
    NewOrder,
    PeriodResult,
    TradeSide,
)
from openvpp.markets.exchange.replay_mode import ReplayConfig, ReplaySource
from openvpp.markets.exchange.rules import GateClosed
from openvpp.markets.replay import ResidualBookParams

__all__ = [
    "AuctionResult",
    "ExchangeOrder",
    "ExchangeStatus",
    "ExecType",
    "FaultInjector",
    "FaultMode",
    "FaultSpec",
    "Fill",
    "FillPage",
    "GateClosed",
    "ImbalanceConfig",
    "ImbalancePeriod",
    "ImbalanceResult",
    "MarketDataPoint",
    "NewOrder",
    "PeriodResult",
    "RealTimeSource",
    "ReplayConfig",
    "ReplaySource",
    "ResidualBookParams",
    "SimulatedExchange",
    "TradeSide",
    "parse_fault",
]
