"""A market as data: venue, currency, price and volume rules, products with their gate rules,
settlement, penalties and qualification.

Prices are exact (``Decimal``) in the market's currency: ``[currency/MWh]`` for energy markets,
``[currency/MW]`` per delivery product for capacity markets (``price_basis``). Volumes are in
``[MW]``. Gate rules are expressed relative to the delivery interval in the market's local time;
:mod:`openvpp.markets.calendar` turns them into UTC instants.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from datetime import time as wall_time
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PERIODS_MIN = (5, 15, 30, 60, 240)
"""Allowed delivery and settlement periods [min]: divisors of an hour are laid on a UTC grid from
local midnight, 240 on local wall-clock blocks (see :mod:`openvpp.markets.calendar`)."""

CODE = r"^[A-Z0-9][A-Z0-9_-]{0,31}$"
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _f(default: Any, unit: str, description: str, **limits: Any) -> Any:
    return Field(default, description=description, json_schema_extra={"unit": unit}, **limits)


def valid_zone(value: str) -> str:
    """``value`` if it names an IANA time zone, else ``ValueError``."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}, e.g. 'Europe/Berlin'") from None
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VenueKind(StrEnum):
    AUCTION = "auction"
    CONTINUOUS = "continuous"
    CAPACITY_AUCTION = "capacity_auction"


class PricingRule(StrEnum):
    PAY_AS_CLEAR = "pay_as_clear"  # uniform price
    PAY_AS_BID = "pay_as_bid"
    RESTING_ORDER = "resting_order"  # continuous trading: the resting order's price


class PriceBasis(StrEnum):
    ENERGY = "energy"  # [currency/MWh]
    CAPACITY = "capacity"  # [currency/MW] per delivery product


class Direction(StrEnum):
    BOTH = "both"  # buy and sell energy
    SYMMETRIC = "symmetric"  # one capacity offered up and down at once (FCR)
    UP = "up"  # positive reserve, load reduction
    DOWN = "down"  # negative reserve, load increase


class DayBefore(_Frozen):
    """At a local wall-clock ``time`` on the local day ``days`` days before the delivery day
    (the local date of the interval's start). ``days >= 1``, so a closure is always before
    delivery."""

    kind: Literal["day_before"]
    days: int = _f(..., "d", "local days before the delivery day", ge=1, le=366)
    time: str = Field(..., description="local wall-clock time 'HH:MM'")

    @field_validator("time", mode="before")
    @classmethod
    def _hhmm(cls, value: Any) -> Any:
        if isinstance(value, int):
            raise ValueError("write the time quoted, e.g. '12:00' (YAML reads 12:00 as a number)")
        if isinstance(value, str) and not _HHMM.fullmatch(value):
            raise ValueError(f"time must be 'HH:MM' (00:00 to 23:59), got {value!r}")
        return value

    @property
    def time_of_day(self) -> wall_time:
        """The rule's local wall-clock time."""
        return wall_time.fromisoformat(self.time)

    def lead_min(self, offset_min: int) -> int:
        """Minutes from the rule's instant to an interval starting ``offset_min`` after local
        midnight of the delivery day (ignoring clock changes)."""
        t = self.time_of_day
        return self.days * 1440 - (t.hour * 60 + t.minute) + offset_min


class BeforeDelivery(_Frozen):
    """A fixed duration before the start of each delivery interval (elapsed time, not wall
    clock)."""

    kind: Literal["before_delivery"]
    minutes: int = _f(..., "min", "minutes before delivery start", ge=1, le=366 * 1440)

    def lead_min(self, offset_min: int) -> int:
        """Minutes from the rule's instant to the interval start (independent of offset)."""
        return self.minutes


GateRule = Annotated[DayBefore | BeforeDelivery, Field(discriminator="kind")]


class Product(_Frozen):
    """A delivery product: its period and when it can be traded.

    ``time_zone`` is the market's; a :class:`Market` fills it in for its products.
    ``gate_opening`` ``None`` means orders are accepted any time before gate closure.
    """

    code: str = Field(..., pattern=CODE, description="product code, unique in its market")
    period_min: Literal[5, 15, 30, 60, 240] = _f(..., "min", "delivery period")
    time_zone: str = Field(..., description="IANA zone of the market's local time")
    gate_opening: GateRule | None = None
    gate_closure: GateRule
    direction: Direction = Direction.BOTH
    description: str = ""

    @field_validator("time_zone")
    @classmethod
    def _iana(cls, value: str) -> str:
        return valid_zone(value)

    @model_validator(mode="after")
    def _opens_before_closing(self) -> Product:
        if self.gate_opening is None:
            return self
        # both rules are linear in the interval's offset in the day: check the first and last
        for offset in (0, 1440 - self.period_min):
            if self.gate_opening.lead_min(offset) <= self.gate_closure.lead_min(offset):
                raise ValueError("gate_opening must be before gate_closure for every interval")
        return self


class PriceLimits(_Frozen):
    """Lowest and highest admissible price [currency/MWh or currency/MW, see price_basis]."""

    min: Decimal = _f(..., "currency/MWh", "lowest price")
    max: Decimal = _f(..., "currency/MWh", "highest price")

    @model_validator(mode="after")
    def _ordered(self) -> PriceLimits:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


class Fee(_Frozen):
    """A fee on an absolute energy per settlement period: ``-|energy| x rate``."""

    code: str = Field(..., pattern=CODE, description="fee code, unique in its market")
    basis: Literal["traded", "metered", "deviation"] = Field(
        ...,
        description="energy it applies to: the traded position, the metered energy or "
        "the deviation between them",
    )
    rate: Decimal = _f(..., "currency/MWh", "fee per MWh", ge=0)


class DeviationAssessment(_Frozen):
    """Deviation assessment with a tolerance band (偏差考核): the part of ``|actual -
    scheduled|`` beyond ``tolerance x |scheduled|`` pays ``excess x price x factor``."""

    tolerance: Decimal = _f(..., "fraction", "free band as a share of the schedule", ge=0, le=1)
    factor: Decimal = _f(Decimal(1), "1", "multiplier on the price", ge=0, le=100)
    price: Literal["day_ahead", "real_time"] = Field(
        "day_ahead", description="price the excess is charged at"
    )


class BaselineMethod(StrEnum):
    CAISO_10_IN_10 = "caiso_10_in_10"  # 10 of the last 10 working days (4 of 4 otherwise)
    HIGH_4_OF_5 = "high_4_of_5"  # PJM: the 4 highest of the last 5 working days
    LAST_5_WORKING_DAYS = "last_5_working_days"  # Jiangsu
    TOP_5_OF_10 = "top_5_of_10"  # Beijing: the 5 highest of the 10 days D-12 .. D-2
    PRE_EVENT = "pre_event"  # Jiangsu real-time DR: the load just before control


class Baseline(_Frozen):
    """How a demand-response baseline is computed (:mod:`openvpp.settlement.baselines`)."""

    method: BaselineMethod
    lookback_days: int = _f(45, "d", "oldest candidate day, in days before the event", ge=2)
    adjustment_cap: Decimal | None = _f(
        None, "fraction", "largest same-day adjustment of a multiplicative method", ge=0, le=1
    )
    holidays: tuple[date, ...] = Field(
        (), description="public holidays of the market's region: not working days"
    )
    working_weekend_days: tuple[date, ...] = Field(
        (), description="weekend days that are working days (e.g. China's adjusted days)"
    )


class Settlement(_Frozen):
    """How the market settles: period, real-time pricing, deviation rules, fees, baseline."""

    period_min: Literal[5, 15, 30, 60, 240] = _f(15, "min", "settlement period")
    imbalance_price_reference: str | None = Field(
        None, description="price deviations are settled at, e.g. 'reBAP', 'real-time LMP'"
    )
    imbalance_pricing: Literal["single", "dual"] = Field(
        "single", description="one real-time price for both sides, or a long and a short price"
    )
    deviation: DeviationAssessment | None = None
    fees: tuple[Fee, ...] = ()
    baseline: Baseline | None = None
    response_cap: Decimal | None = _f(
        None, "fraction", "share of a demand-response award paid at most, e.g. 1.2", gt=0, le=10
    )
    energy_step_mwh: Decimal = _f(Decimal("0.001"), "MWh", "energy settled in steps of", gt=0)
    minor_unit: Decimal = _f(Decimal("0.01"), "currency", "amounts rounded to", gt=0)

    @model_validator(mode="after")
    def _unique_fees(self) -> Settlement:
        codes = [f.code for f in self.fees]
        if len(set(codes)) != len(codes):
            raise ValueError(f"fees: duplicate fee codes in {codes}")
        return self


class Penalty(_Frozen):
    """Non-delivery penalty. With threshold R1 and factor M, delivery below ``award x R1`` pays
    ``(award x R1 - actual) x price x M``."""

    under_delivery_threshold: float | None = _f(
        None, "fraction", "share of the award below which a penalty applies (R1)", ge=0, le=1
    )
    penalty_factor: float | None = _f(None, "1", "multiplier on the price (M)", ge=0, le=100)
    price_reference: str | None = Field(None, description="price the penalty is computed at")
    other: dict[str, float | str] = Field(default_factory=dict, description="further terms")


class Qualification(_Frozen):
    """Minimum a participant (or aggregation) must offer to be admitted."""

    min_mw: Decimal = _f(..., "MW", "minimum capacity or response", ge=0)
    min_duration_h: float = _f(0.0, "h", "minimum continuous response", ge=0, le=24 * 7)
    basis: Literal["capacity", "response"] = "capacity"


class Market(_Frozen):
    """A trading venue segment with its rules; ``products`` are traded on it."""

    code: str = Field(..., pattern=CODE, description="market code, e.g. 'EU-SDAC'")
    name: str = Field(..., min_length=1, max_length=200)
    venue: VenueKind
    time_zone: str = Field(..., description="IANA zone of the market's local time")
    currency: str = Field(..., pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
    price_basis: PriceBasis = PriceBasis.ENERGY
    pricing: PricingRule
    price_limits: PriceLimits = Field(..., description="admissible bid prices")
    clearing_price_limits: PriceLimits | None = Field(
        None, description="admissible clearing prices when wider than bids (else price_limits)"
    )
    price_tick: Decimal = _f(..., "currency/MWh", "price increment", gt=0)
    volume_tick_mw: Decimal = _f(..., "MW", "volume increment", gt=0)
    min_order_volume_mw: Decimal = _f(..., "MW", "smallest order volume", gt=0)
    products: tuple[Product, ...] = Field(..., min_length=1)
    settlement: Settlement = Settlement()
    penalty: Penalty | None = None
    qualification: Qualification | None = None
    notes: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    @field_validator("time_zone")
    @classmethod
    def _iana(cls, value: str) -> str:
        return valid_zone(value)

    @model_validator(mode="before")
    @classmethod
    def _products_in_market_zone(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("products"), list | tuple):
            return data
        zone = data.get("time_zone")
        products = [
            {**p, "time_zone": zone} if isinstance(p, dict) and "time_zone" not in p else p
            for p in data["products"]
        ]
        return {**data, "products": products}

    @model_validator(mode="after")
    def _consistent(self) -> Market:
        codes = [p.code for p in self.products]
        if len(set(codes)) != len(codes):
            raise ValueError(f"products: duplicate product codes in {codes}")
        if any(p.time_zone != self.time_zone for p in self.products):
            raise ValueError("products: every product must use the market's time_zone")
        if self.min_order_volume_mw % self.volume_tick_mw:
            raise ValueError("min_order_volume_mw must be a multiple of volume_tick_mw")
        wide = self.clearing_price_limits
        if wide is not None and (
            wide.min > self.price_limits.min or wide.max < self.price_limits.max
        ):
            raise ValueError("clearing_price_limits must contain price_limits")
        return self

    def product(self, code: str) -> Product:
        """The product ``code``; ``KeyError`` naming the known codes if absent."""
        for p in self.products:
            if p.code == code:
                return p
        known = [p.code for p in self.products]
        raise KeyError(f"{self.code} has no product {code!r}; known: {known}")

    def period(self, product: str) -> timedelta | None:
        """The delivery period of product ``product``; ``None`` if the market has no such
        product."""
        for p in self.products:
            if p.code == product:
                return timedelta(minutes=p.period_min)
        return None

    @property
    def clearing_limits(self) -> PriceLimits:
        """Limits of the clearing price [currency/MWh]."""
        return self.clearing_price_limits or self.price_limits
