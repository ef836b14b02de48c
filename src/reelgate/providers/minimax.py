"""The MiniMax v1 adapter: talks to any MiniMax v1 base URL (the real service or the sandbox).

All httpx errors are translated here, at the edge, into the UpstreamError family.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from reelgate.domain.tasks import UpstreamStatus
from reelgate.domain.upstream_fields import KNOWN_FILE_FIELDS, extra_fields
from reelgate.domain.video import VideoRequest
from reelgate.errors import (
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    UpstreamUnreachable,
)
from reelgate.providers.base import FileInfo, PushedStatus, QueryResult
from reelgate.providers.upstream_http import HttpxCalls, UpstreamCalls
from reelgate.urlguard import BlockedUrl, check_url

# MiniMax documents a one-hour lifetime for download URLs (reference 2.4).
DOWNLOAD_URL_LIFETIME = timedelta(hours=1)


@contextmanager
def translate(what: str) -> Iterator[None]:
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        # before a byte of the request went out: the channel's fault, not the request's
        raise UpstreamUnreachable(f"upstream {what} failed: {exc.__class__.__name__}") from exc
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"upstream {what} timed out") from exc
    except httpx.InvalidURL as exc:
        raise UpstreamUnavailable(f"upstream {what} failed: {exc}") from exc
    except httpx.TransportError as exc:
        raise UpstreamUnavailable(f"upstream {what} failed: {exc.__class__.__name__}") from exc


def upstream_body(request: VideoRequest, callback_url: str | None = None) -> dict[str, Any]:
    """The v1 create body of a canonical request: the fields the client set, no more
    (MiniMax applies its own default to one left out), its switches, its images."""
    body: dict[str, Any] = {"model": request.model}
    if "prompt" in request.explicit:
        body["prompt"] = request.prompt
    if "duration" in request.explicit:
        body["duration"] = request.duration
    if "resolution" in request.explicit:
        body["resolution"] = request.resolution
    body.update(request.options)
    if request.first_frame is not None:
        body["first_frame_image"] = request.first_frame.source
    if request.last_frame is not None:
        body["last_frame_image"] = request.last_frame.source
    if request.subject is not None:
        body["subject_reference"] = [{"type": "character", "image": [request.subject.source]}]
    if callback_url:
        body["callback_url"] = callback_url
    return body


class MiniMaxProvider:
    """A MiniMax v1 account reached over HTTP: its JSON calls through ``calls`` (by
    default the shared ``httpx.AsyncClient``), downloads through that client."""

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str,
        client: httpx.AsyncClient,
        *,
        allow_private_downloads: bool = False,
        calls: UpstreamCalls | None = None,
    ) -> None:
        self.name = name
        self._base = base_url.rstrip("/")
        self._host = urlsplit(self._base).hostname
        self._allow_private = allow_private_downloads
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._secrets = (api_key,)  # never passed on, whatever field an answer echoes it in
        self._client = client  # downloads
        self._calls = calls or HttpxCalls(client)  # the JSON calls

    def __repr__(self) -> str:  # never show the key
        return f"MiniMaxProvider({self.name!r}, {self._base!r})"

    async def submit(self, request: VideoRequest, callback_url: str | None = None) -> str:
        body = upstream_body(request, callback_url)
        data = await self._call("POST", "/v1/video_generation", json=body)
        task_id = data.get("task_id")
        if not task_id:
            raise UpstreamError("upstream accepted the task but sent no task_id")
        return str(task_id)

    async def query(self, upstream_task_id: str, model: str | None = None) -> QueryResult:
        # A failed task may come with a non-zero code (1026, 1027) next to status "Fail":
        # that is the task's outcome, not a refusal of the query.
        data = await self._call(
            "GET",
            "/v1/query/video_generation",
            params={"task_id": upstream_task_id},
            accept_failed_task=True,
        )
        status = UpstreamStatus.parse(str(data.get("status", "")))
        if status is None:
            raise UpstreamError(f"upstream sent an unknown status {data.get('status')!r}")
        base = data.get("base_resp") or {}
        code = int(base.get("status_code") or 0)
        file_id = data.get("file_id")
        return QueryResult(
            status=status,
            file_id=str(file_id) if file_id not in (None, "") else None,
            width=_int(data.get("video_width")),
            height=_int(data.get("video_height")),
            error_code=code,
            error_message=str(data.get("error_message") or (code and base.get("status_msg")) or ""),
        )

    async def retrieve_file(self, file_id: str, model: str | None = None) -> FileInfo:
        data = await self._call("GET", "/v1/files/retrieve", params={"file_id": file_id})
        file = data.get("file")
        if not isinstance(file, dict) or not file.get("download_url"):
            raise UpstreamError("upstream file object has no download_url")
        created = _int(file.get("created_at"))
        now = datetime.now(UTC)
        return FileInfo(
            file_id=str(file.get("file_id", file_id)),
            bytes=_int(file.get("bytes")),
            filename=str(file.get("filename") or "output.mp4"),
            download_url=str(file["download_url"]),
            created_at=datetime.fromtimestamp(created, UTC) if created else None,
            expires_at=now + DOWNLOAD_URL_LIFETIME,
            extra=extra_fields(file, KNOWN_FILE_FIELDS, self._secrets),
        )

    async def cancel(self, upstream_task_id: str, model: str | None = None) -> bool:
        return False  # MiniMax's v1 has no cancel: the task runs (and is paid) upstream

    def read_push(
        self, body: Mapping[str, object], model: str | None = None
    ) -> PushedStatus | None:
        return read_v1_push(body)

    async def download(self, url: str) -> AsyncIterator[bytes]:
        # A download URL on another host than the upstream's own API (a CDN) is checked
        # like any URL the gateway is handed: it must not lead into the private network.
        if urlsplit(url).hostname != self._host:
            try:
                await check_url(url, allow_private=self._allow_private)
            except BlockedUrl as exc:
                raise UpstreamRejected(1000, f"refused download URL: {exc.message}") from None
        with translate("download"):
            async with self._client.stream("GET", url) as resp:
                if resp.status_code != 200:
                    raise UpstreamUnavailable(f"upstream download answered {resp.status_code}")
                async for chunk in resp.aiter_bytes(1 << 16):
                    yield chunk

    async def _call(
        self, method: str, path: str, *, accept_failed_task: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        what = path.rsplit("/", 1)[-1]
        resp = await self._calls.request(
            method, self._base + path, what, headers=self._headers, **kwargs
        )
        if resp.status_code >= 500 or resp.status_code == 429:
            raise UpstreamUnavailable(f"upstream answered HTTP {resp.status_code}")
        try:
            data = resp.json()
        except ValueError:
            raise UpstreamError(f"upstream answered HTTP {resp.status_code} without JSON") from None
        if not isinstance(data, dict):
            raise UpstreamError("upstream answered with a JSON value that is not an object")
        base = data.get("base_resp") or {}
        code = int(base.get("status_code") or 0)
        failed_task = accept_failed_task and str(data.get("status", "")).lower() == "fail"
        if code != 0 and not failed_task:
            raise UpstreamRejected(code, str(base.get("status_msg") or "upstream error"))
        if resp.status_code != 200:
            raise UpstreamUnavailable(f"upstream answered HTTP {resp.status_code}")
        return data


def read_v1_push(body: Mapping[str, object]) -> PushedStatus | None:
    """A v1 push (the query's shape). A success is complete only with the file id and
    the video's size; without them a poll confirms it."""
    status = UpstreamStatus.parse(str(body.get("status", "")))
    if status is None:
        return None
    task_id = str(body.get("task_id", "") or "")
    if status is UpstreamStatus.SUCCESS:
        file_id = str(body.get("file_id") or "")
        width, height = _size(body.get("video_width")), _size(body.get("video_height"))
        result = QueryResult(status=status, file_id=file_id, width=width, height=height)
        return PushedStatus(task_id, result, complete=bool(file_id and width and height))
    base = body.get("base_resp") or {}
    code = int(base.get("status_code") or 0) if isinstance(base, Mapping) else 0
    message = str(base.get("status_msg") or "") if isinstance(base, Mapping) else ""
    result = QueryResult(status=status, error_code=code, error_message=message if code else "")
    return PushedStatus(task_id, result)


def _size(value: Any) -> int | None:
    """A pushed video dimension: a positive integer, or None."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        size = int(value)
    except ValueError:
        return None
    return size if size > 0 else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None
