"""Upstream callbacks: a per-task, unguessable URL the upstream pushes status changes to.

Only used when the gateway has a public URL (``REELGATE_PUBLIC_BASE_URL``); polling then
carries on slowly as a safety net.
"""

from __future__ import annotations

import hashlib
import hmac

from reelgate.domain import signing

PATH = "/upstream/callbacks"


class UpstreamCallbacks:
    def __init__(self, secret: bytes, public_base_url: str | None) -> None:
        self._secret = secret
        self._base = public_base_url.rstrip("/") if public_base_url else None

    @property
    def enabled(self) -> bool:
        return self._base is not None

    def _sig(self, platform_id: str) -> str:
        mac = hmac.new(self._secret, f"upstream-callback:{platform_id}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    def url_for(self, platform_id: str) -> str | None:
        if self._base is None:
            return None
        return f"{self._base}{PATH}/{platform_id}.{self._sig(platform_id)}"

    def verify(self, token: str) -> str | None:
        """The platform id a callback token stands for, or None if it is not ours."""
        platform_id, _, sig = token.rpartition(".")
        if not platform_id or not signing.same(self._sig(platform_id), sig):
            return None
        return platform_id
