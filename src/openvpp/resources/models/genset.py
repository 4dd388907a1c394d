"""Dispatchable genset / CHP: fuel cost, schedule feasibility and reachable output bounds.

Output ``p`` [MW] per interval is injection (positive); ``p == 0`` means the unit is off,
otherwise it must run within ``[p_min, p_max]``. Durations in [h], ramp rates in [MW/min],
costs in [EUR/h] (rates) and [EUR] (per interval or per start).

Ramping: interval outputs are averages, so two consecutive running intervals may differ by at
most ``ramp_mw_per_min * 60 * dt_h``. Starting up and shutting down follow the usual
start-up/shut-down limit ``max(p_min, ramp step)`` (capped at ``p_max``): a unit may start at
or stop from any output up to that, so ``p_min`` is always reachable even with a slow ramp.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_TOL = 1e-9


@dataclass(frozen=True)
class GensetSpec:
    """Parameters of one genset (see ``GensetParametersV2`` for units and ranges).

    ``cost_curve`` holds breakpoints ``(p_mw, cost_eur_per_h)`` of a convex piecewise-linear
    fuel cost while running, with ``p_mw`` strictly increasing and covering
    ``[p_min_mw, p_max_mw]``; the running cost rate is ``no_load_cost_eur_per_h`` plus the
    curve. ``start_cost_eur`` is charged once per start.
    """

    p_min_mw: float
    p_max_mw: float
    ramp_mw_per_min: float
    min_up_h: float
    min_down_h: float
    cost_curve: tuple[tuple[float, float], ...]
    no_load_cost_eur_per_h: float = 0.0
    start_cost_eur: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.p_min_mw <= self.p_max_mw or self.p_max_mw <= 0.0:
            raise ValueError("need 0 <= p_min_mw <= p_max_mw and p_max_mw > 0")
        if self.ramp_mw_per_min <= 0.0:
            raise ValueError("ramp_mw_per_min must be positive")
        if self.min_up_h < 0.0 or self.min_down_h < 0.0:
            raise ValueError("min_up_h and min_down_h must not be negative")
        if len(self.cost_curve) < 2:
            raise ValueError("cost_curve needs at least two breakpoints")
        xs, ys = _curve_arrays(self)
        if np.any(np.diff(xs) <= 0.0):
            raise ValueError("cost_curve p_mw must be strictly increasing")
        slopes = np.diff(ys) / np.diff(xs)
        if np.any(np.diff(slopes) < -_TOL * max(1.0, float(np.abs(slopes).max()))):
            raise ValueError("cost_curve must be convex (marginal cost non-decreasing)")
        if xs[0] > self.p_min_mw + _TOL or xs[-1] < self.p_max_mw - _TOL:
            raise ValueError("cost_curve must cover [p_min_mw, p_max_mw]")

    @classmethod
    def linear(
        cls,
        p_min_mw: float,
        p_max_mw: float,
        ramp_mw_per_min: float,
        min_up_h: float,
        min_down_h: float,
        fuel_cost_per_mwh: float,
    ) -> GensetSpec:
        """A spec with a constant marginal cost [EUR/MWh] (the v1 template's cost model)."""
        curve = ((0.0, 0.0), (p_max_mw, fuel_cost_per_mwh * p_max_mw))
        return cls(p_min_mw, p_max_mw, ramp_mw_per_min, min_up_h, min_down_h, curve)


def _curve_arrays(spec: GensetSpec) -> tuple[FloatArray, FloatArray]:
    pts = np.asarray(spec.cost_curve, dtype=np.float64)
    return pts[:, 0], pts[:, 1]


def ramp_step_mw(spec: GensetSpec, dt_h: float) -> float:
    """Largest change of output between two consecutive running intervals [MW]."""
    return spec.ramp_mw_per_min * 60.0 * dt_h


def start_limit_mw(spec: GensetSpec, dt_h: float) -> float:
    """Highest output in the first interval after a start, and in the last one before a stop
    [MW]: ``max(p_min, ramp step)``, capped at ``p_max``."""
    return min(spec.p_max_mw, max(spec.p_min_mw, ramp_step_mw(spec, dt_h)))


def fuel_cost_rate_eur_per_h(spec: GensetSpec, p_mw: FloatArray) -> FloatArray:
    """Cost rate while running [EUR/h] at outputs ``p_mw`` [MW]: no-load cost plus the cost
    curve (linear interpolation; the end segments extend beyond the breakpoints)."""
    p = np.asarray(p_mw, dtype=np.float64)
    xs, ys = _curve_arrays(spec)
    first = (ys[1] - ys[0]) / (xs[1] - xs[0])
    last = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
    inside = np.interp(p, xs, ys)
    below = ys[0] + first * (p - xs[0])
    above = ys[-1] + last * (p - xs[-1])
    curve = np.where(p < xs[0], below, np.where(p > xs[-1], above, inside))
    return np.asarray(spec.no_load_cost_eur_per_h + curve, dtype=np.float64)


def fuel_cost_eur(
    spec: GensetSpec,
    p_mw: FloatArray,
    dt_h: float,
    *,
    initially_on: bool | BoolArray = False,
) -> FloatArray:
    """Cost of each interval [EUR] for outputs ``p_mw`` [MW] (intervals on the last axis).

    Zero while off (``p <= 0``); running intervals cost the running rate times ``dt_h``; the
    first running interval after an off one (or after an off start, unless ``initially_on``)
    also carries ``start_cost_eur``. For a stack of units ``(n_units, n_intervals)``,
    ``initially_on`` may be an array of shape ``(n_units,)``.
    """
    p = np.asarray(p_mw, dtype=np.float64)
    on = p > _TOL
    before = np.concatenate(
        [np.broadcast_to(np.asarray(initially_on), p.shape[:-1])[..., None], on[..., :-1]],
        axis=-1,
    )
    starts = on & ~before
    running = np.where(on, fuel_cost_rate_eur_per_h(spec, p) * dt_h, 0.0)
    return np.asarray(running + starts * spec.start_cost_eur, dtype=np.float64)


def check_schedule(
    spec: GensetSpec,
    p_mw: FloatArray,
    dt_h: float,
    *,
    initially_on: bool,
    hours_in_state: float,
    p0_mw: float | None = None,
) -> list[str]:
    """Every violation of a schedule ``p_mw`` [MW] (one interval per entry), as messages
    starting ``"interval <i>: "``, ordered by interval; empty when the schedule is feasible.

    The unit has been on (``initially_on``) or off for ``hours_in_state`` [h] before the
    horizon, with output ``p0_mw`` in the interval just before it; when ``p0_mw`` is None the
    ramp and shut-down limits of the first interval are not checked. Checks: negative output,
    below ``p_min`` while on, above ``p_max``, ramp exceeded (between running intervals, and
    the start-up/shut-down limit), and runs shorter than ``min_up_h`` / ``min_down_h`` that
    end inside the horizon (a run still going at the horizon's end is not a violation).
    """
    p = np.asarray(p_mw, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError("check_schedule takes one schedule (a 1-d array)")
    # The checks are vectorized; the loops below only format the violating intervals.
    found: list[tuple[int, str]] = []
    on = p > _TOL
    step, limit = ramp_step_mw(spec, dt_h), start_limit_mw(spec, dt_h)
    for i in np.flatnonzero(p < -_TOL):
        found.append((int(i), f"interval {i}: negative output {p[i]:.6g} MW"))
    for i in np.flatnonzero(on & (p < spec.p_min_mw - _TOL)):
        found.append(
            (int(i), f"interval {i}: {p[i]:.6g} MW is below p_min {spec.p_min_mw:g} MW while on")
        )
    for i in np.flatnonzero(p > spec.p_max_mw + _TOL):
        found.append((int(i), f"interval {i}: {p[i]:.6g} MW is above p_max {spec.p_max_mw:g} MW"))

    # Ramp limits, comparing each interval with the one before it.
    prev_on = np.concatenate([[initially_on], on[:-1]])
    prev_p = np.concatenate([[np.nan if p0_mw is None else p0_mw], p[:-1]])
    known = ~np.isnan(prev_p)
    delta = np.abs(p - np.where(known, prev_p, 0.0))
    for i in np.flatnonzero(known & on & prev_on & (delta > step + _TOL)):
        found.append(
            (
                int(i),
                f"interval {i}: ramp exceeded, output changes by {delta[i]:.6g} MW"
                f" (limit {step:.6g} MW per interval)",
            )
        )
    for i in np.flatnonzero(on & ~prev_on & (p > limit + _TOL)):
        found.append(
            (
                int(i),
                f"interval {i}: ramp exceeded, starts at {p[i]:.6g} MW"
                f" (start-up limit {limit:.6g} MW)",
            )
        )
    for i in np.flatnonzero(known & ~on & prev_on & (prev_p > limit + _TOL)):
        found.append(
            (
                int(i),
                f"interval {i}: ramp exceeded, stops from {prev_p[i]:.6g} MW"
                f" (shut-down limit {limit:.6g} MW)",
            )
        )

    # Minimum up/down times: each switch ends a run that began at the previous switch (the
    # first run began ``hours_in_state`` before the horizon).
    switches = np.flatnonzero(on != prev_on)
    if switches.size:
        run_h = np.diff(switches, prepend=0) * dt_h
        run_h[0] += hours_in_state
        was_on = prev_on[switches]
        need = np.where(was_on, spec.min_up_h, spec.min_down_h)
        for i, h, up, req in zip(switches, run_h, was_on, need, strict=True):
            if h < req - _TOL:
                verb, state, name = ("off", "on", "min_up_h") if up else ("on", "off", "min_down_h")
                why = f"after {h:.6g} h {state} ({name} {req:g} h)"
                found.append((int(i), f"interval {i}: switched {verb} {why}"))
    found.sort(key=lambda item: item[0])
    return [text for _, text in found]


@dataclass(frozen=True)
class GensetBounds:
    """Per-interval output bounds [MW] reachable from the current state.

    Each interval's bounds are reachable on their own (not jointly: ramps couple intervals).
    Where the unit may be off but need not be, the feasible set is ``{0}`` plus
    ``[p_min, p_max_mw]`` and ``p_min_mw`` is 0.
    """

    p_min_mw: FloatArray
    p_max_mw: FloatArray
    must_run: BoolArray  # the unit cannot be off in this interval
    may_run: BoolArray  # the unit can be on in this interval


def genset_bounds(
    spec: GensetSpec,
    n_intervals: int,
    dt_h: float,
    *,
    on: bool,
    p0_mw: float,
    hours_in_state: float,
) -> GensetBounds:
    """Output bounds of the next ``n_intervals`` intervals of ``dt_h`` [h].

    The unit has been ``on`` (or off) for ``hours_in_state`` [h], with output ``p0_mw`` [MW]
    in the interval just before the horizon (0 when off). A running unit stays on until
    ``min_up_h`` has elapsed and until it has ramped down to its shut-down limit; a stopped
    unit stays off until ``min_down_h`` has elapsed, then starts at up to its start-up limit
    and ramps up from there.
    """
    if on and not spec.p_min_mw - _TOL <= p0_mw <= spec.p_max_mw + _TOL:
        raise ValueError("a running unit needs p_min_mw <= p0_mw <= p_max_mw")
    if not on and abs(p0_mw) > _TOL:
        raise ValueError("a stopped unit has p0_mw == 0")
    t = np.arange(n_intervals, dtype=np.float64)
    step, limit = ramp_step_mw(spec, dt_h), start_limit_mw(spec, dt_h)
    if on:
        must_stay = t * dt_h < spec.min_up_h - hours_in_state - _TOL
        lowest_on = np.maximum(spec.p_min_mw, p0_mw - step * (t + 1))
        highest_on = np.minimum(spec.p_max_mw, p0_mw + step * (t + 1))
        # Off in interval t needs the interval before to be at or below the shut-down limit.
        lowest_before = np.concatenate([[p0_mw], lowest_on[:-1]])
        can_stop = ~must_stay & (lowest_before <= limit + _TOL)
        return GensetBounds(
            p_min_mw=np.where(can_stop, 0.0, lowest_on),
            p_max_mw=highest_on,
            must_run=~can_stop,
            may_run=np.ones(n_intervals, dtype=np.bool_),
        )
    must_stay = t * dt_h < spec.min_down_h - hours_in_state - _TOL
    since_start = t - np.count_nonzero(must_stay)
    highest = np.minimum(spec.p_max_mw, limit + step * since_start)
    return GensetBounds(
        p_min_mw=np.zeros(n_intervals),
        p_max_mw=np.where(must_stay, 0.0, highest),
        must_run=np.zeros(n_intervals, dtype=np.bool_),
        may_run=~must_stay,
    )
