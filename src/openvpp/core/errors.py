"""The ``DomainError`` hierarchy.

Every error the product raises on purpose derives from :class:`DomainError`. The API maps each
class to one HTTP status in a single place (``openvpp.api.errors``); messages name the offending
field and value so that a client can fix its request.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class of all expected errors. ``code`` is a stable machine-readable identifier."""

    code = "domain_error"

    def __init__(
        self, message: str, *, field: str | None = None, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details  # machine-readable specifics, e.g. the conflicts found

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled with every attribute (the order store process sends errors back), whatever
        # arguments a subclass's constructor requires
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(cls: type[DomainError], args: tuple[Any, ...], state: dict[str, Any]) -> DomainError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ValidationFailed(DomainError):
    """Input is well-formed but violates a rule (range, state, reference)."""

    code = "validation_error"


class NotFound(DomainError):
    """The object does not exist, or belongs to another organization (indistinguishable)."""

    code = "not_found"


class Conflict(DomainError):
    """The request conflicts with the current state (duplicate, wrong state transition)."""

    code = "conflict"


class VenueUnavailable(DomainError):
    """A trading venue did not answer usefully (unreachable, timed out, refused the call)."""

    code = "venue_unavailable"


class AuthenticationFailed(DomainError):
    """Credentials are missing, wrong, expired, replayed or revoked."""

    code = "authentication_failed"


class PermissionDenied(DomainError):
    """The caller is authenticated but its roles do not allow the action."""

    code = "permission_denied"


class RateLimited(DomainError):
    """Too many attempts; ``retry_after`` seconds until the next one is allowed."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = max(1, int(retry_after))
