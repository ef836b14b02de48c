"""Where upstreams push status changes: one unguessable URL per task."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from reelgate.api.deps import tracker, upstream_callbacks
from reelgate.services.tracker import Tracker
from reelgate.services.upstream_callbacks import PATH, UpstreamCallbacks
from reelgate.wire import JSONResponse, json_body

router = APIRouter(tags=["Upstream callbacks"], include_in_schema=False)


@router.post(PATH + "/{token}")
async def upstream_callback(
    request: Request,
    callbacks: Annotated[UpstreamCallbacks, Depends(upstream_callbacks)],
    pushes: Annotated[Tracker, Depends(tracker)],
    token: str,
) -> Response:
    """Answers MiniMax's challenge, then records each pushed status change. No caller:
    the token in the URL, signed by the gateway, stands for the task."""
    platform_id = callbacks.verify(token)
    if platform_id is None:
        return JSONResponse({"detail": "not found"}, status_code=404)
    body = await json_body(request)
    if not isinstance(body, dict):
        return JSONResponse({"detail": "expected a JSON object"}, status_code=400)
    if "challenge" in body:
        return JSONResponse({"challenge": body["challenge"]})
    await pushes.on_push(platform_id, body)
    return JSONResponse({"status": "success"})
