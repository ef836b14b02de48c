"""The MiniMax adapters' JSON calls (create, query, retrieve, cancel): one request, the
whole answer, errors translated into the UpstreamError family.

Two transports. ``HttpxCalls`` goes through the shared ``httpx.AsyncClient`` (tests hand
one in with a mock or ASGI transport). ``AiohttpCalls`` is what ``reelgate serve`` uses:
httpx costs 2.7-3.3 ms of CPU a request with 32 in flight on its keep-alive pool (httpcore
checks every pooled connection's socket on each request), aiohttp about 0.2 ms (its C
parser, one idle-connection stack per host), and the tracker makes one call per poll
(docs/benchmarks.md, "Tracking"). Downloads stay on httpx (one per video, streamed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import httpx
import orjson

from reelgate.errors import UpstreamTimeout, UpstreamUnavailable, UpstreamUnreachable

if TYPE_CHECKING:
    import aiohttp

Params = Mapping[str, str]


class Answer(NamedTuple):
    status_code: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON; ValueError if it is not."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:  # what orjson refuses and json takes: NaN, huge ints
            return json.loads(self.body)


class UpstreamCalls(Protocol):
    async def request(
        self,
        method: str,
        url: str,
        what: str,
        *,
        headers: Mapping[str, str],
        params: Params | None = None,
        json: Any = None,
    ) -> Answer:
        """Send one request, read the whole answer. ``what`` names the call in errors."""
        ...


class HttpxCalls:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def request(
        self,
        method: str,
        url: str,
        what: str,
        *,
        headers: Mapping[str, str],
        params: Params | None = None,
        json: Any = None,
    ) -> Answer:
        from reelgate.providers.minimax import translate

        with translate(what):
            resp = await self._client.request(
                method, url, headers=headers, params=params, json=json
            )
        return Answer(resp.status_code, resp.content)


class AiohttpCalls:
    """One ``aiohttp.ClientSession``, opened on first use (it belongs to the running
    loop), closed by ``aclose``. No proxy from the environment (``trust_env`` off): a
    proxy variable must not reroute calls to a loopback sandbox."""

    def __init__(self, timeout_s: float, *, connect_s: float = 5.0, limit: int = 200) -> None:
        import aiohttp  # noqa: F401  here, at startup: a first import in the first call
        # stalled the event loop for a second or two (the CLI's other commands never load it)

        self._timeout_s = timeout_s
        self._connect_s = connect_s
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=self._timeout_s, connect=self._connect_s)
        connector = aiohttp.TCPConnector(limit=self._limit, ttl_dns_cache=60)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, trust_env=False, auto_decompress=True
        )
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        what: str,
        *,
        headers: Mapping[str, str],
        params: Params | None = None,
        json: Any = None,
    ) -> Answer:
        import aiohttp

        session = self._session or self._open()
        try:
            async with session.request(
                method, url, headers=headers, params=params, json=json
            ) as resp:
                return Answer(resp.status, await resp.read())
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # before a byte of the request went out: the channel's fault, not the request's
            raise UpstreamUnreachable(f"upstream {what} failed: {exc.__class__.__name__}") from exc
        except TimeoutError as exc:  # aiohttp's own are TimeoutErrors too
            raise UpstreamTimeout(f"upstream {what} timed out") from exc
        except aiohttp.InvalidURL as exc:
            raise UpstreamUnavailable(f"upstream {what} failed: invalid URL {exc}") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"upstream {what} failed: {exc.__class__.__name__}") from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
