"""Request paths as clients write them: repeated slashes are one.

The official MiniMax MCP client builds its URLs as ``f"{api_host}{endpoint}"``, so a base
URL configured with a trailing slash (``http://host:port/minimaxi/``) calls
``/minimaxi//v1/video_generation``; and a client that keeps only ``scheme://host:port/``
calls ``//v1/...``. No route of the gateway has an empty segment, so collapsing runs of
slashes before routing changes nothing else (signed links and callback tokens are
base64url: no slash).
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

_REPEATED = re.compile(r"//+")
_REPEATED_RAW = re.compile(rb"//+")


class CollapseSlashes:
    """Pure ASGI: ``//`` becomes ``/`` in ``path`` and ``raw_path`` of HTTP requests."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope["path"]:
            scope = dict(scope)
            scope["path"] = _REPEATED.sub("/", scope["path"])
            raw = scope.get("raw_path")
            if isinstance(raw, bytes):
                scope["raw_path"] = _REPEATED_RAW.sub(b"/", raw)
        await self.app(scope, receive, send)
