"""Credentials of venue connections at rest: a small JSON object (e.g. ``{"api_key": ...}``)
encrypted with Fernet keys derived from the master secret, which never lives in the database."""

from __future__ import annotations

import json
from collections.abc import Mapping

from cryptography.fernet import InvalidToken, MultiFernet

from openvpp.core.errors import ValidationFailed

__all__ = ["CredentialBox"]


class CredentialBox:
    """Encrypts and decrypts credentials. The first key encrypts; every key decrypts, so that
    after a master-key change the former key still opens old tokens until :meth:`rotate`."""

    def __init__(self, box: MultiFernet) -> None:
        self._box = box

    def seal(self, credentials: Mapping[str, str]) -> str:
        return self._box.encrypt(json.dumps(dict(credentials), sort_keys=True).encode()).decode()

    def open(self, token: str) -> dict[str, str]:
        try:
            value = json.loads(self._box.decrypt(token.encode()))
        except InvalidToken:
            raise ValidationFailed(
                "the stored credentials cannot be decrypted with the configured keys "
                "(OPENVPP_SECRET_KEY / OPENVPP_PREVIOUS_SECRET_KEYS)",
                field="credentials",
            ) from None
        return {str(k): str(v) for k, v in value.items()}

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the first key; ``ValidationFailed`` if no key opens
        it."""
        try:
            return self._box.rotate(token.encode()).decode()
        except InvalidToken:
            raise ValidationFailed(
                "stored credentials cannot be decrypted with the configured keys",
                field="credentials",
            ) from None
