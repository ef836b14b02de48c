"""Signed, expiring tokens for download URLs that work without an auth header."""

from __future__ import annotations

import base64
import hashlib
import hmac


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(secret: bytes, subject: str, expires: int) -> str:
    """Return a URL-safe signature binding ``subject`` to the expiry time ``expires``."""
    mac = hmac.new(secret, f"{subject}\n{expires}".encode(), hashlib.sha256).digest()
    return _b64(mac[:20])


def verify(secret: bytes, subject: str, expires: int, signature: str, now: float) -> bool:
    """True if ``signature`` is valid for ``subject`` and ``expires`` has not passed."""
    if expires < now:
        return False
    return hmac.compare_digest(sign(secret, subject, expires), signature)
