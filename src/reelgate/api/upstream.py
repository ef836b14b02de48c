"""Where upstreams push status changes: one unguessable URL per task."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from reelgate.api.deps import gateway
from reelgate.services.upstream_callbacks import PATH
from reelgate.wire import JSONResponse, json_body

router = APIRouter(tags=["Upstream callbacks"], include_in_schema=False)


@router.post(PATH + "/{token}")
async def upstream_callback(request: Request, token: str) -> Response:
    """Answers MiniMax's challenge, then records each pushed status change."""
    gw = gateway(request)
    platform_id = gw.upstream_callbacks.verify(token)
    if platform_id is None:
        return JSONResponse({"detail": "not found"}, status_code=404)
    body = await json_body(request)
    if not isinstance(body, dict):
        return JSONResponse({"detail": "expected a JSON object"}, status_code=400)
    if "challenge" in body:
        return JSONResponse({"challenge": body["challenge"]})
    await gw.tracker.on_push(platform_id, body)
    return JSONResponse({"status": "success"})
