"""Signed download URLs: a plain GET with no auth header, as MiniMax clients expect."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from reelgate.api.deps import gateway
from reelgate.api.minimax import video_response

router = APIRouter(tags=["Files"])

_GONE = Response(b"this link is invalid or has expired; call files/retrieve again", 404)


@router.api_route(
    "/files/{name}",
    methods=["GET", "HEAD"],
    summary="Download a video through a signed URL",
    response_class=Response,
    responses={200: {"content": {"video/mp4": {}}}, 206: {"description": "A byte range"}},
)
async def download(request: Request, name: str, expires: int = 0, sig: str = "") -> Response:
    gw = gateway(request)
    platform_id = name.removesuffix(".mp4")
    if not gw.file_service.verify(platform_id, expires, sig):
        return Response(_GONE.body, status_code=404, media_type="text/plain")
    task = await gw.tasks.get_by_platform_id(platform_id)
    if task is None or task.file is None:
        return Response(_GONE.body, status_code=404, media_type="text/plain")
    return await video_response(request, task)
