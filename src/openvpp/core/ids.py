"""Identifiers and opaque secrets."""

from __future__ import annotations

import secrets
import uuid


def new_id() -> str:
    """A random UUID4 string: unguessable, so object ids leak nothing across organizations."""
    return str(uuid.uuid4())


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret with ``nbytes`` bytes of entropy."""
    return secrets.token_urlsafe(nbytes)
