"""What every MiniMax API call goes through before it reaches the sandbox's behaviour.

In order: authentication (1004 without a bearer key; for an unknown one 2049 on create,
1004 on query and the files endpoints, as MiniMax: ``wire.key_refusal``), the account's
request limit (1002), then the fault plan (an HTTP 5xx, a hang, a slow answer,
a refusal); and every call, whatever became of it, is written to the request log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from reelgate.errors import InvalidApiKey, ReelgateError
from reelgate.sandbox.faults import CallFaults
from reelgate.sandbox.requestlog import LogEntry
from reelgate.sandbox.service import Sandbox
from reelgate.wire import bearer_token, key_refusal, minimax_error

KEY_PREFIX_CHARS = 6
HANG_POLL_S = 0.1


@dataclass(slots=True)
class Call:
    """One admitted call: who makes it, what the fault plan decided, and its log entry."""

    account: str
    faults: CallFaults
    entry: LogEntry


Handler = Callable[[Call], Awaitable[Response]]


def relative_path(request: Request) -> str:
    """The path below the sandbox's base URL, the same mounted (/sandbox) or standalone."""
    path: str = request.scope["path"]
    root: str = request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def serve(sandbox: Sandbox, request: Request, endpoint: str, handler: Handler) -> Response:
    clock = sandbox.clock
    entry = LogEntry(
        t=clock(),
        method=request.method,
        path=relative_path(request),
        endpoint=endpoint,
        task_id=request.query_params.get("task_id"),
        file_id=request.query_params.get("file_id"),
    )
    entry.http_status = 500  # unless the call gets as far as an answer
    try:
        try:
            response = await _admit_and_handle(sandbox, request, entry, handler)
            if entry.code is None and response.media_type == "application/json":
                entry.code = 0
        except ReelgateError as exc:
            entry.code = exc.code
            response = minimax_error(exc)
        entry.http_status = response.status_code
        return response
    finally:
        entry.duration_s = clock() - entry.t
        sandbox.requests.add(entry)


async def _admit_and_handle(
    sandbox: Sandbox, request: Request, entry: LogEntry, handler: Handler
) -> Response:
    token = bearer_token(request)
    if token:
        entry.key = token[:KEY_PREFIX_CHARS]
    try:
        account = entry.account = sandbox.account_for(token)
    except InvalidApiKey as exc:
        raise key_refusal(exc, create=entry.endpoint == "create") from None
    sandbox.limiter.acquire(account)
    await request.body()  # read now, so that a hang can watch for the client leaving
    faults = sandbox.faults.for_call(account, entry.endpoint)
    entry.faults.extend(faults.names)
    if faults.http is not None:
        return Response(faults.http.body, faults.http.status, media_type=faults.http.media_type)
    if faults.hang:
        await _hang(request, sandbox.faults.plan.hang_s)
        return Response(b"upstream request timeout", 504, media_type="text/plain")
    if faults.slow:
        await asyncio.sleep(sandbox.faults.plan.slow_s)
    faults.refuse()
    return await handler(Call(account, faults, entry))


async def _hang(request: Request, seconds: float) -> None:
    """Answer nothing for ``seconds``, or until the client gives up and disconnects."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(HANG_POLL_S, left))
