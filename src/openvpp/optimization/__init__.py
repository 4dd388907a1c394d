"""HiGHS model builders: schedule optimization of flexibility against prices, the decomposition
for large portfolios, and bid curves in each market's format."""

# -- bid curves and market formats (bids.py, ladders.py, formats.py, block_bids.py, china.py) --
from openvpp.optimization.bids import BidCurve as BidCurve
from openvpp.optimization.bids import BidCurveSet as BidCurveSet
from openvpp.optimization.bids import PriceResponse as PriceResponse
from openvpp.optimization.bids import aggregate_curves as aggregate_curves
from openvpp.optimization.bids import bid_curves as bid_curves
from openvpp.optimization.bids import path_scenarios as path_scenarios
from openvpp.optimization.bids import quantile_scenarios as quantile_scenarios
from openvpp.optimization.block_bids import BlockSpec as BlockSpec
from openvpp.optimization.block_bids import block_orders as block_orders
from openvpp.optimization.block_bids import profile_blocks as profile_blocks
from openvpp.optimization.china import CnDeclaration as CnDeclaration
from openvpp.optimization.china import cn_declaration as cn_declaration
from openvpp.optimization.china import validate_declaration as validate_declaration

# -- schedule optimization and the decomposition (units.py, lp.py, schedule.py, decomposition.py)
# -- and bid curves coupled across intervals (coupled.py)
from openvpp.optimization.coupled import CoupledCurves as CoupledCurves
from openvpp.optimization.coupled import coupled_curves as coupled_curves
from openvpp.optimization.decomposition import DecompositionOptions as DecompositionOptions
from openvpp.optimization.decomposition import DecompositionResult as DecompositionResult
from openvpp.optimization.decomposition import optimize_portfolio as optimize_portfolio
from openvpp.optimization.formats import OfferCurve as OfferCurve
from openvpp.optimization.formats import client_order_id as client_order_id
from openvpp.optimization.formats import iso_offer_curves as iso_offer_curves
from openvpp.optimization.formats import limit_orders as limit_orders
from openvpp.optimization.formats import validate_offer_curves as validate_offer_curves
from openvpp.optimization.formats import validate_orders as validate_orders
from openvpp.optimization.ladders import IntervalLadder as IntervalLadder
from openvpp.optimization.ladders import ladders as ladders
from openvpp.optimization.lp import Penalties as Penalties
from openvpp.optimization.lp import SolverOptions as SolverOptions
from openvpp.optimization.schedule import ScheduleMarket as ScheduleMarket
from openvpp.optimization.schedule import ScheduleResult as ScheduleResult
from openvpp.optimization.schedule import Slacks as Slacks
from openvpp.optimization.schedule import optimize_schedule as optimize_schedule
from openvpp.optimization.schedule import price_response as price_response
from openvpp.optimization.units import FlexUnit as FlexUnit
from openvpp.optimization.units import StorageUnit as StorageUnit
