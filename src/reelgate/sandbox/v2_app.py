"""The sandbox's MiniMax v2 routes (reference sections 2 to 7), below its base URL.

They go through the same gate as v1's (auth, request limit, faults, request log) with
v2's wording (``V2``): errors in v2's envelope (``surfaces/minimax_v2/wire.py``) with
their real HTTP status, the ``Trace-Id`` as ``request_id``, and 401 "login fail" (1004)
for a missing or unknown key. The log names the endpoints ``v2_create``, ``v2_query``,
``v2_list`` and ``v2_delete``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from reelgate.errors import ReelgateError, Unauthorized
from reelgate.sandbox.faults import FaultKind, HttpFault
from reelgate.sandbox.gate import Call, Wire, base_url, serve
from reelgate.sandbox.service import Sandbox, TaskForgotten
from reelgate.sandbox.v2 import V2Api
from reelgate.surfaces.minimax_v2.wire import LOGIN_FAIL, error_body
from reelgate.wire import JSONResponse, json_body, new_trace_id, trace_id_of


def v2_error(exc: ReelgateError, request: Request) -> Response:
    status, body = error_body(exc, trace_id_of(request) or new_trace_id())
    return JSONResponse(body, status_code=status)


def _login_fail(exc: Unauthorized, create: bool) -> ReelgateError:
    return Unauthorized(LOGIN_FAIL)


def _http_fault(fault: HttpFault, request: Request) -> tuple[Response, int | None]:
    # the application's own 500 speaks v2; a proxy's HTML or text is the same for both
    if fault.media_type == "application/json":
        exc = ReelgateError("internal error")
        return v2_error(exc, request), exc.code
    return Response(fault.body, fault.status, media_type=fault.media_type), None


V2 = Wire("v2", v2_error, _login_fail, _http_fault)


def add_v2_routes(app: FastAPI, sandbox: Sandbox, v2: V2Api) -> None:
    @app.post("/v2/video_generation", tags=["MiniMax v2"])
    async def create(request: Request) -> Response:
        async def handle(call: Call) -> Response:
            body = await json_body(request)
            if isinstance(body, dict):
                call.entry.body_fields = sorted(body)
            task = await v2.create(call.account, body, call.faults, base_url(request))
            call.entry.task_id = task.task_id
            call.entry.task_status = "queued"
            call.entry.faults.extend(task.faults)
            return JSONResponse({"task_id": task.task_id})

        return await serve(sandbox, request, "v2_create", handle, V2)

    @app.get("/v2/query/video_generation/{task_id}", tags=["MiniMax v2"])
    async def query(request: Request, task_id: str) -> Response:
        async def handle(call: Call) -> Response:
            call.entry.task_id = task_id
            try:
                task = v2.query(call.account, task_id, base_url(request))
            except TaskForgotten:
                call.entry.faults.append(FaultKind.FORGET.value)
                raise
            call.entry.task_status = task["status"]
            return JSONResponse({"task": task})

        return await serve(sandbox, request, "v2_query", handle, V2)

    @app.get("/v2/query/video_generation", tags=["MiniMax v2"])
    async def list_tasks(request: Request) -> Response:
        async def handle(call: Call) -> Response:
            return JSONResponse(v2.list(call.account, request.query_params, base_url(request)))

        return await serve(sandbox, request, "v2_list", handle, V2)

    @app.delete("/v2/video_generation/{task_id}", tags=["MiniMax v2"])
    async def delete(request: Request, task_id: str) -> Response:
        async def handle(call: Call) -> Response:
            call.entry.task_id = task_id
            answer = v2.delete(call.account, task_id)
            call.entry.task_status = answer["status"]
            return JSONResponse(answer)

        return await serve(sandbox, request, "v2_delete", handle, V2)
