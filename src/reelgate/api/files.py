"""Signed download URLs (a plain GET with no auth header, as MiniMax clients expect), and
the one way a video is served, with ``Range`` and ``HEAD``, from wherever it is."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from reelgate.api.deps import Files, Tasks, file_service
from reelgate.domain.tasks import Task
from reelgate.errors import ReelgateError
from reelgate.services.files import (
    FileService,
    LocalVideo,
    RedirectVideo,
    StoredVideo,
    UpstreamVideo,
)

router = APIRouter(tags=["Files"])

MEDIA_TYPE = "video/mp4"
_GONE = b"this link is invalid or has expired; call files/retrieve again"


# GET and HEAD as two routes: one route of two methods gives both one operationId
@router.head(
    "/files/{name}",
    summary="The headers of a GET, with no body (size, Accept-Ranges)",
    response_class=Response,
)
@router.get(
    "/files/{name}",
    summary="Download a video through a signed URL",
    response_class=Response,
    responses={
        200: {"content": {"video/mp4": {}}},
        206: {"description": "A byte range"},
        302: {"description": "To a presigned object-store URL (storage_s3_serve=redirect)"},
        416: {"description": "The range is not satisfiable"},
    },
)
async def download(
    request: Request, files: Files, tasks: Tasks, name: str, expires: int = 0, sig: str = ""
) -> Response:
    # No caller: the link's signature stands for the task's account.
    platform_id = name.removesuffix(".mp4")
    if not files.verify(platform_id, expires, sig):
        return Response(_GONE, status_code=404, media_type="text/plain")
    task = await tasks.for_signed_link(platform_id)
    if task is None or task.file is None:
        return Response(_GONE, status_code=404, media_type="text/plain")
    try:
        return await serve_video(request, task, files=files, link_expires=expires)
    except ReelgateError as exc:
        # a download link answers a real status: a client must not save an error as a video
        return Response(exc.message.encode(), status_code=exc.http_status, media_type="text/plain")


async def serve_video(
    request: Request,
    task: Task,
    *,
    files: FileService | None = None,
    link_expires: int | None = None,
) -> Response:
    """The task's video: the gateway's copy with Range and HEAD, or the upstream's bytes.

    ``files``: the handler's FileService (its dependency); the request's when left out.
    ``link_expires`` (signed links only) allows answering with a redirect to a presigned
    object-store URL when the storage is configured to; an authenticated caller
    (``retrieve_content``) always gets the bytes.
    """
    files = files or await file_service(request)
    head = request.method == "HEAD"
    source = await files.source(task, link_expires=None if head else link_expires)
    filename = f"{task.platform_id}.mp4"
    disposition = f'attachment; filename="{filename}"'
    if isinstance(source, LocalVideo):
        return FileResponse(source.path, media_type=MEDIA_TYPE, filename=filename)
    if isinstance(source, RedirectVideo):
        return RedirectResponse(source.url, status_code=302, headers={"cache-control": "no-store"})
    if isinstance(source, StoredVideo):
        return await _ranged(request, files, source, disposition)
    assert isinstance(source, UpstreamVideo)
    # Not copied (yet, or copies are off): stream the upstream's bytes whole.
    headers = {"content-disposition": disposition, "accept-ranges": "none"}
    if head:
        if source.size:
            headers["content-length"] = str(source.size)
        return Response(status_code=200, headers=headers, media_type=MEDIA_TYPE)
    body = await _primed(files.download(task, source.url))
    return StreamingResponse(body, headers=headers, media_type=MEDIA_TYPE)


async def _ranged(
    request: Request, files: FileService, video: StoredVideo, disposition: str
) -> Response:
    size = video.size
    headers = {"accept-ranges": "bytes", "content-disposition": disposition}
    etag = f'"{video.sha256}"' if video.sha256 else None
    if etag:
        headers["etag"] = etag
    try:
        span = byte_range(request.headers.get("range"), size)
    except RangeNotSatisfiable:
        headers["content-range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    if_range = request.headers.get("if-range")
    if span is not None and if_range is not None and if_range != etag:
        span = None  # the client's copy is another version: send the whole object
    start, end = span if span is not None else (0, size)
    headers["content-length"] = str(end - start)
    status = 200
    if span is not None:
        status = 206
        headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=MEDIA_TYPE)
    body = await _primed(files.read(video, start, end if span is not None else None))
    return StreamingResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


class RangeNotSatisfiable(Exception):
    pass


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one ``bytes=`` range asked for, as ``[start, end)``; None to send it all.

    Multiple ranges and malformed headers are ignored (the whole object is sent, which
    RFC 9110 allows); a well-formed range that misses the object raises RangeNotSatisfiable.
    """
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first.isdigit() or (not first and last.isdigit())):
        return None
    if last and not last.isdigit():
        return None
    if not first:  # a suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - n), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable
    end = min(int(last) + 1, size) if last else size
    return start, end


async def _primed(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Fetch the first chunk now, so that a failure is an error response, not a cut stream."""
    first = await anext(chunks, b"")

    async def rest() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in chunks:
            yield chunk

    return rest()
