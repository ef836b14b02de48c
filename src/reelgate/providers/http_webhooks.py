"""The WebhookSender over httpx, behind the URL guard.

Every call is checked by ``urlguard.send``: the URL is parsed, its name resolved once,
every address it resolves to must be allowed (unless private addresses are), and the
request goes to the address that was checked, so a DNS answer that changes in between
(rebinding) cannot send it elsewhere. Redirects are not followed. This is the one place
that catches httpx's errors for callbacks; it turns them into a ``WebhookFailure``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx

from reelgate.providers.webhooks import WebhookAnswer, WebhookFailure
from reelgate.urlguard import BlockedUrl, Resolve, send, system_resolve


class HttpWebhooks:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        allow_private: bool,
        resolve: Resolve = system_resolve,
    ) -> None:
        self._client = client
        self._allow_private = allow_private
        self._resolve = resolve

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, timeout_s: float
    ) -> WebhookAnswer | WebhookFailure:
        try:
            # the deadline covers the name's resolution too, which httpx's timeout does not
            async with asyncio.timeout(timeout_s):
                reply = await send(
                    self._client,
                    "POST",
                    url,
                    allow_private=self._allow_private,
                    resolve=self._resolve,
                    content=body,
                    headers=dict(headers),
                    timeout=timeout_s,
                )
        except BlockedUrl as exc:
            return WebhookFailure("refused", exc.message)
        except TimeoutError:
            return WebhookFailure("timeout", "Timeout")
        except httpx.TimeoutException as exc:
            return WebhookFailure("timeout", exc.__class__.__name__)
        except httpx.HTTPError as exc:
            return WebhookFailure("unreachable", exc.__class__.__name__)
        return WebhookAnswer(reply.status_code, dict(reply.headers), reply.content)
