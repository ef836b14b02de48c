"""A console user over httpx (in process): signs in through the form like a browser,
keeps the session cookie, and reads the CSRF token from the pages."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.inprocess.harness import InProcess

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


class Browser:
    """One cookie jar: what a browser tab holds."""

    def __init__(self, gateway: InProcess, **headers: str) -> None:
        self.http = gateway.client(None)
        self.http.headers.update(headers)
        self.csrf = ""

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def sign_in(self, credential: str, expect: int = 303) -> httpx.Response:
        form = await self.http.get("/console/login")
        assert form.status_code == 200
        resp = await self.http.post(
            "/console/login", data={"csrf": csrf_of(form.text), "credential": credential}
        )
        assert resp.status_code == expect, resp.text
        if expect == 303:
            await self.page(resp.headers["location"])
        return resp

    async def page(self, path: str, expect: int = 200) -> httpx.Response:
        resp = await self.http.get(path)
        assert resp.status_code == expect, f"{path}: {resp.status_code} {resp.text[:500]}"
        found = _CSRF.search(resp.text)
        if found:  # a whole page (a fragment has none)
            self.csrf = found.group(1)
        return resp

    async def post(
        self, path: str, data: dict[str, Any] | None = None, **kw: Any
    ) -> httpx.Response:
        """A form post with this session's CSRF token (``csrf=None`` in data leaves it out)."""
        body = {"csrf": self.csrf, **(data or {})}
        body = {k: v for k, v in body.items() if v is not None}
        return await self.http.post(path, data=body, **kw)
