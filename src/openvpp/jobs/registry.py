"""Job kinds: a handler per kind, and the context a handler reports through."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openvpp.core.errors import ValidationFailed


class JobCancelled(Exception):
    """Raised inside a handler when cancellation was requested."""


@dataclass
class JobContext:
    """Handed to a handler: its parameters, and a way to report progress and see cancellation."""

    job_id: str
    organization_id: str | None
    params: dict[str, Any]
    report: Callable[[float, str], bool]
    min_interval_s: float = 0.5
    cancelled: bool = False
    shutdown: bool = False
    fraction: float = 0.0
    message: str = ""
    _last_report: float = field(default=0.0, repr=False)

    def progress(self, fraction: float, message: str = "", *, force: bool = False) -> None:
        """Report ``fraction`` done [0..1]; raises :class:`JobCancelled` when asked to stop."""
        self.fraction, self.message = min(1.0, max(0.0, fraction)), message
        now = time.monotonic()
        if force or now - self._last_report >= self.min_interval_s:
            self._last_report = now
            self.cancelled = self.report(self.fraction, message) or self.cancelled
        if self.cancelled:
            raise JobCancelled


Handler = Callable[[JobContext], dict[str, Any]]
ParamsCheck = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class JobKind:
    name: str
    description: str
    handler: Handler
    check_params: ParamsCheck
    roles: frozenset[str]


def no_params(params: dict[str, Any]) -> dict[str, Any]:
    if params:
        raise ValidationFailed(
            f"this job takes no parameters, got {sorted(params)}", field="params"
        )
    return {}


class JobRegistry:
    def __init__(self) -> None:
        self._kinds: dict[str, JobKind] = {}

    def register(
        self,
        name: str,
        handler: Handler,
        *,
        description: str,
        check_params: ParamsCheck = no_params,
        roles: frozenset[str] = frozenset({"admin"}),
    ) -> None:
        """Register a kind; ``roles`` may submit it (besides the route's own policy)."""
        if name in self._kinds:
            raise ValueError(f"job kind {name!r} registered twice")
        self._kinds[name] = JobKind(name, description, handler, check_params, roles)

    def get(self, name: str) -> JobKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise ValidationFailed(
                f"unknown job kind {name!r}; known: {sorted(self._kinds)}", field="kind"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def kinds(self) -> list[JobKind]:
        return [self._kinds[n] for n in self.names()]
