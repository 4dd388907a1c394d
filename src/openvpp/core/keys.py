"""Purpose-bound keys derived from the one master secret (HKDF-SHA256)."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(master: bytes, purpose: str, length: int = 32) -> bytes:
    """Derive an independent key for ``purpose`` (e.g. ``"jwt"``) from ``master``."""
    if len(master) < 32:
        raise ValueError("master secret must be at least 32 bytes")
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=None, info=f"openvpp:{purpose}".encode()
    ).derive(master)


def fernet_for(master: bytes, purpose: str) -> Fernet:
    """A Fernet (AES-128-CBC + HMAC-SHA256) box for secrets at rest, bound to ``purpose``."""
    return Fernet(base64.urlsafe_b64encode(derive_key(master, purpose)))
