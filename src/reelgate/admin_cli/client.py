"""The admin API (/admin/v1) over HTTP, and how a failure ends a command: its message
on stderr and its exit code."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.markup import escape

from reelgate.admin_cli.display import err

if TYPE_CHECKING:
    import httpx

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


def fail(code: int, message: str) -> NoReturn:
    err.print(f"[red]error:[/] {escape(message)}")
    raise typer.Exit(code)


class Admin:
    """The admin API over HTTP; any failure ends the command with a clear message."""

    def __init__(self, url: str, token: str | None) -> None:
        import httpx  # here, not at import: `reelgate --help` stays quick

        if not token:
            fail(EXIT_USAGE, "no admin token: pass --admin-token or set REELGATE_ADMIN_TOKEN")
        self.url = url.rstrip("/")
        self._httpx = httpx
        # trust_env=False: a proxy variable must not reroute an operator's loopback calls
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30.0,
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            resp = self._http.request(method, "/admin/v1" + path, json=body, params=query)
        except self._httpx.HTTPError as exc:
            fail(EXIT_UNREACHABLE, f"cannot reach the gateway at {self.url}: {exc}")
        if missing_ok and resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            fail(EXIT_REFUSED, describe(resp))
        return resp.json()

    def currency(self) -> str | None:
        """The price table's currency; None from a gateway without /admin/v1/prices."""
        prices = self.call("GET", "/prices", missing_ok=True)
        return str(prices["currency"]) if prices else None


def describe(resp: httpx.Response) -> str:
    """'HTTP 404 (not_found): no account 7' from the platform's error body."""
    try:
        data = resp.json()
        error = data["error"]
        text = f"HTTP {resp.status_code} ({error['kind']}): {error['message']}"
        if data.get("request_id"):
            text += f" [request {data['request_id']}]"
        return text
    except (ValueError, KeyError, TypeError):
        return f"HTTP {resp.status_code}: {resp.text[:300] or resp.reason_phrase}"


@contextmanager
def admin(url: str, token: str | None) -> Iterator[Admin]:
    client = Admin(url, token)
    try:
        yield client
    finally:
        client.close()
