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


def same(expected: str, given: str) -> bool:
    """Constant-time equality of a signature we made (ASCII) and one a client sent.

    ``hmac.compare_digest`` raises TypeError for a ``str`` with non-ASCII characters, so
    both sides are compared as UTF-8 bytes: a non-ASCII signature is simply unequal.
    """
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))


def verify(secret: bytes, subject: str, expires: int, signature: str, now: float) -> bool:
    """True if ``signature`` is valid for ``subject`` and ``expires`` has not passed."""
    if expires < now:
        return False
    return same(sign(secret, subject, expires), signature)
