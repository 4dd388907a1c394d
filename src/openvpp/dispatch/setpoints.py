"""A power plan turned into :class:`~openvpp.dispatch.protocol.Setpoint` messages.

**Validity windows.** The setpoint of interval ``t`` is valid from the interval's start to its
end plus ``grace``: the next interval's setpoint (a higher ``seq``) takes over at its start,
and when it was lost the device holds the last one for ``grace`` before falling back.

**Fallback** (what a device does without a valid setpoint or when its link is lost), by
default per resource type (:func:`default_fallback_mw`):

- battery, genset: 0 MW (idle / stopped: no energy moved without an instruction);
- PV, wind (curtailable generation): 0 MW — the conservative cap: without the controller no
  uncoordinated injection (a site whose connection agreement prefers uncurtailed output passes
  its forecast instead);
- loads (curtailable, shiftable, EV depots, heat pumps): their baseline in that interval — the
  consumption they would have without the VPP, so a lost link never strands a process.

**Sequence numbers** increase per resource: ``first_seq[i] + t``; the caller keeps the next
free number per resource (the builder returns it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from openvpp.dispatch.protocol import Setpoint
from openvpp.resources.templates import ResourceType

__all__ = ["LOAD_TYPES", "build_setpoints", "default_fallback_mw"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

LOAD_TYPES = frozenset(
    {
        ResourceType.CURTAILABLE_LOAD,
        ResourceType.SHIFTABLE_LOAD,
        ResourceType.EV_FLEET,
        ResourceType.HEAT_PUMP,
    }
)


def default_fallback_mw(kinds: Sequence[ResourceType], baseline_mw: FloatArray) -> FloatArray:
    """Fallback power per resource and interval ``(n, T)`` [MW]: the baseline for loads, 0
    otherwise (see the module docstring)."""
    base = np.asarray(baseline_mw, dtype=np.float64)
    is_load = np.array([k in LOAD_TYPES for k in kinds], dtype=np.bool_)
    if is_load.shape[0] != base.shape[0]:
        raise ValueError(f"kinds: {is_load.shape[0]} for {base.shape[0]} resources")
    return np.where(is_load[:, None], base, 0.0)


def build_setpoints(
    p_mw: FloatArray,
    resource_ids: Sequence[str],
    starts: Sequence[datetime],
    interval: timedelta,
    *,
    organization_id: str,
    issued_at: datetime,
    fallback_mw: FloatArray | float = 0.0,
    first_seq: IntArray | int = 0,
    grace: timedelta = timedelta(0),
    run_id: str = "",
) -> tuple[list[Setpoint], IntArray]:
    """Setpoints for plan ``p_mw`` ``(n, T)`` [MW] over intervals starting at ``starts``
    (tz-aware UTC) of length ``interval``, in time order then resource order.

    ``fallback_mw``: scalar, ``(n,)`` or ``(n, T)`` [MW]. ``first_seq``: the next sequence
    number per resource (scalar or ``(n,)``). Instruction ids are ``{run_id}{resource}/{seq}``
    (unique as long as the caller's sequence numbers are). Returns the setpoints and the next
    free sequence number per resource.
    """
    p = np.asarray(p_mw, dtype=np.float64)
    n, t_len = p.shape
    if len(resource_ids) != n or len(starts) != t_len:
        raise ValueError(f"p_mw {p.shape} vs {len(resource_ids)} ids, {len(starts)} starts")
    if any(s.tzinfo is None for s in starts) or issued_at.tzinfo is None:
        raise ValueError("starts and issued_at must be tz-aware (UTC)")
    if not np.all(np.isfinite(p)):
        raise ValueError("p_mw must be finite")
    fb_in = np.asarray(fallback_mw, dtype=np.float64)
    fb = np.broadcast_to(fb_in[:, None] if fb_in.ndim == 1 else fb_in, (n, t_len))
    seq0 = np.broadcast_to(np.asarray(first_seq, dtype=np.int64), (n,))
    p_list, fb_list = p.tolist(), fb.tolist()
    seq_list = seq0.tolist()
    out: list[Setpoint] = []
    for t, start in enumerate(starts):
        until = start + interval + grace
        for i, rid in enumerate(resource_ids):
            seq = seq_list[i] + t
            out.append(
                Setpoint(
                    instruction_id=f"{run_id}{rid}/{seq}",
                    organization_id=organization_id,
                    resource_id=rid,
                    seq=seq,
                    p_mw=p_list[i][t],
                    valid_from=start,
                    valid_until=until,
                    fallback_mw=fb_list[i][t],
                    issued_at=issued_at,
                )
            )
    return out, np.asarray(seq0 + t_len, dtype=np.int64)
