"""What every MiniMax API call goes through before it reaches the sandbox's behaviour.

In order: authentication (1004 without a bearer key; for an unknown one 2049 on create,
1004 on query and the files endpoints, as MiniMax: ``wire.key_refusal``), the account's
request limit (1002), then the fault plan (an HTTP 5xx, a hang, a slow answer,
a refusal); and every call, whatever became of it, is written to the request log.

v1 and v2 differ only in how they word a refusal (``Wire``): v1 answers HTTP 200 with a
non-zero ``base_resp``, v2 a real HTTP status with its error envelope, and 401 "login
fail" (1004) for a missing or unknown key alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from reelgate.errors import InvalidApiKey, ReelgateError, Unauthorized
from reelgate.sandbox.faults import CallFaults, HttpFault
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


@dataclass(frozen=True, slots=True)
class Wire:
    """How one API words what the gate refuses."""

    api: str  # "v1" | "v2"
    error: Callable[[ReelgateError, Request], Response]
    # the key was missing or unknown: what the client is told (create or not)
    auth_refusal: Callable[[Unauthorized, bool], ReelgateError]
    # an injected HTTP 5xx: the answer, and the code the request log records
    http_fault: Callable[[HttpFault, Request], tuple[Response, int | None]]


def _v1_auth(exc: Unauthorized, create: bool) -> ReelgateError:
    return key_refusal(exc, create=create) if isinstance(exc, InvalidApiKey) else exc


def _as_sent(fault: HttpFault, request: Request) -> tuple[Response, int | None]:
    return Response(fault.body, fault.status, media_type=fault.media_type), None


V1 = Wire("v1", lambda exc, _: minimax_error(exc), _v1_auth, _as_sent)


def relative_path(request: Request) -> str:
    """The path below the sandbox's base URL, the same mounted (/sandbox) or standalone."""
    path: str = request.scope["path"]
    root: str = request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def base_url(request: Request) -> str:
    """Where this app is reachable, mount path included (the sandbox may sit at /sandbox)."""
    root = request.scope.get("root_path", "")
    return f"{request.url.scheme}://{request.url.netloc}{root}"


async def serve(
    sandbox: Sandbox, request: Request, endpoint: str, handler: Handler, wire: Wire = V1
) -> Response:
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
            response = await _admit_and_handle(sandbox, request, entry, handler, wire)
            if entry.code is None and response.media_type == "application/json":
                entry.code = 0
        except ReelgateError as exc:
            entry.code = exc.code
            response = wire.error(exc, request)
        entry.http_status = response.status_code
        return response
    finally:
        entry.duration_s = clock() - entry.t
        sandbox.requests.add(entry)


async def _admit_and_handle(
    sandbox: Sandbox, request: Request, entry: LogEntry, handler: Handler, wire: Wire
) -> Response:
    token = bearer_token(request)
    if token:
        entry.key = token[:KEY_PREFIX_CHARS]
    try:
        account = entry.account = sandbox.account_for(token)
    except Unauthorized as exc:
        raise wire.auth_refusal(exc, entry.endpoint == "create") from None
    sandbox.limiter.acquire(account)
    await request.body()  # read now, so that a hang can watch for the client leaving
    faults = sandbox.faults.for_call(account, entry.endpoint)
    entry.faults.extend(faults.names)
    if faults.http is not None:
        response, entry.code = wire.http_fault(faults.http, request)
        return response
    if faults.hang:
        await _hang(request, sandbox.faults.plan.hang_s)
        return Response(b"upstream request timeout", 504, media_type="text/plain")
    if faults.slow:
        await asyncio.sleep(sandbox.faults.plan.slow_s)
    faults.refuse(wire.api)
    return await handler(Call(account, faults, entry))


async def _hang(request: Request, seconds: float) -> None:
    """Answer nothing for ``seconds``, or until the client gives up and disconnects."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(HANG_POLL_S, left))
