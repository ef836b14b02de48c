"""The MiniMax v2 adapter (MiniMax-H3): the same account, base URL and key as v1, the
``/v2/...`` wire (shared/reference/minimax-v2-api.md).

v2 has no file objects: a succeeded task's ``content.url`` is its video, re-minted on
every query. The adapter gives a v2 task's video the task id as its file id, so that the
services' one path (``retrieve_file``, then copy) serves both wires: retrieving it is a
query. Errors come as ``{"type": "error", "error": {..., "message": "... (2013)"}}`` with
a real HTTP status; the code in parentheses is what the gateway classifies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from reelgate.domain import upstream_codes
from reelgate.domain.tasks import UpstreamStatus, Usage
from reelgate.domain.video import Role, VideoRequest
from reelgate.errors import UpstreamError, UpstreamRejected, UpstreamUnavailable
from reelgate.providers.base import FileInfo, PushedStatus, QueryResult
from reelgate.providers.minimax import MiniMaxProvider

# v2 does not document how long content.url lives: assume little, fetch a fresh one after
URL_LIFETIME = timedelta(minutes=10)
# v2 has one waiting status; read as v1's first, so that the task's first poll (it was
# recorded Preparing when the upstream took it) is no change: no second "queued" event
_STATUS = {
    "queued": UpstreamStatus.PREPARING,
    "running": UpstreamStatus.PROCESSING,
    "succeeded": UpstreamStatus.SUCCESS,
    "failed": UpstreamStatus.FAIL,
    "expired": UpstreamStatus.FAIL,  # not in MiniMax's schema; tolerated (reference 5.1)
    "cancelled": UpstreamStatus.FAIL,
}
_CODE = re.compile(r"\s*\((\d+)\)\s*$")
_NOT_FOUND = ("record not found", "invalid task_id")


def v2_body(request: VideoRequest, callback_url: str | None = None) -> dict[str, Any]:
    """The v2 create body of a canonical request: the prompt and every medium in its
    role, resolution and duration always (the schema requires them), the ratio and the
    switches as the client set them."""
    content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}]
    for medium in request.media:
        kind = f"{medium.kind.value}_url"
        role = (
            f"reference_{medium.kind.value}" if medium.role is Role.REFERENCE else medium.role.value
        )
        content.append({"type": kind, kind: {"url": medium.source}, "role": role})
    body: dict[str, Any] = {
        "model": request.model,
        "content": content,
        "resolution": request.resolution,
        "duration": request.duration,
    }
    if "ratio" in request.explicit and request.ratio is not None:
        body["ratio"] = request.ratio
    body.update(request.options)
    if callback_url:
        body["callback_url"] = callback_url
    return body


def task_result(task: Mapping[str, Any]) -> QueryResult:
    """A v2 task object as a query result."""
    status = _STATUS.get(str(task.get("status", "")).lower())
    if status is None:
        raise UpstreamError(f"upstream sent an unknown status {task.get('status')!r}")
    ratio = str(task.get("ratio") or "") or None
    if status is UpstreamStatus.SUCCESS:
        usage = task.get("usage")
        return QueryResult(
            status,
            file_id=str(task.get("id") or "") or None,
            usage=Usage.from_dict(usage) if isinstance(usage, Mapping) and usage else None,
            ratio=ratio,
        )
    if status is UpstreamStatus.FAIL:
        error = task.get("error") if isinstance(task.get("error"), Mapping) else {}
        assert isinstance(error, Mapping)
        code = str(error.get("code") or "")
        message = str(error.get("message") or "")
        if str(task.get("status")).lower() == "cancelled":
            message = message or "the upstream cancelled the task"
        return QueryResult(
            status,
            error_code=int(code) if code.isdigit() else upstream_codes.FAILED_WITHOUT_CODE,
            error_message=message,
            ratio=ratio,
        )
    return QueryResult(status, ratio=ratio)


class MiniMaxV2Provider(MiniMaxProvider):
    """A MiniMax account's v2 wire; downloads as v1's (``MiniMaxProvider.download``)."""

    def __repr__(self) -> str:  # never show the key
        return f"MiniMaxV2Provider({self.name!r}, {self._base!r})"

    async def submit(self, request: VideoRequest, callback_url: str | None = None) -> str:
        data = await self._v2("POST", "/v2/video_generation", json=v2_body(request, callback_url))
        task_id = data.get("task_id")
        if not task_id:
            raise UpstreamError("upstream accepted the task but sent no task_id")
        return str(task_id)

    async def query(self, upstream_task_id: str, model: str | None = None) -> QueryResult:
        return task_result(await self._task(upstream_task_id))

    async def retrieve_file(self, file_id: str, model: str | None = None) -> FileInfo:
        """The video of a succeeded task (its file id is its task id), at a fresh URL."""
        task = await self._task(file_id)
        content = task.get("content") if isinstance(task.get("content"), Mapping) else None
        url = content.get("url") if content else None
        if not isinstance(url, str) or not url:
            raise UpstreamError("upstream task has no content.url")
        now = datetime.now(UTC)
        return FileInfo(
            file_id=file_id,
            bytes=None,
            filename="output.mp4",
            download_url=url,
            created_at=None,
            expires_at=now + URL_LIFETIME,
        )

    async def cancel(self, upstream_task_id: str, model: str | None = None) -> bool:
        path = f"/v2/video_generation/{quote(upstream_task_id, safe='')}"
        data = await self._v2("DELETE", path)
        return str(data.get("action", "")) == "cancelled"

    def read_push(
        self, body: Mapping[str, object], model: str | None = None
    ) -> PushedStatus | None:
        task = body.get("task")
        if not isinstance(task, Mapping):
            return None
        try:
            result = task_result(task)
        except UpstreamError:
            return None
        # a pushed success is confirmed by the retrieve every success makes (a query)
        return PushedStatus(str(task.get("id") or ""), result)

    async def _task(self, upstream_task_id: str) -> Mapping[str, Any]:
        path = f"/v2/query/video_generation/{quote(upstream_task_id, safe='')}"
        task = (await self._v2("GET", path)).get("task")
        if not isinstance(task, Mapping):
            raise UpstreamError("upstream answered a query without a task object")
        return task

    async def _v2(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        what = path.strip("/").split("/")[1]
        resp = await self._calls.request(
            method, self._base + path, what, headers=self._headers, **kwargs
        )
        try:
            data = resp.json()
        except ValueError:
            data = None
        if 200 <= resp.status_code < 300 and isinstance(data, dict):
            return data
        code, message = _error(data)
        if any(phrase in message.lower() for phrase in _NOT_FOUND):
            # documented: "invalid task_id"; seen live: HTTP 500 "record not found"
            raise UpstreamRejected(upstream_codes.NOT_FOUND, message)
        if code is None:
            if resp.status_code == 429:
                raise UpstreamRejected(upstream_codes.RATE_LIMITED, message or "rate limited")
            raise UpstreamUnavailable(f"upstream answered HTTP {resp.status_code}")
        if resp.status_code >= 500 and upstream_codes.row(code).transient:
            raise UpstreamUnavailable(f"upstream answered HTTP {resp.status_code}: {message}")
        raise UpstreamRejected(code, message)


def _error(data: Any) -> tuple[int | None, str]:
    """The code and message of v2's error envelope (the code ends the message)."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, ""
    message = str(error.get("message") or "")
    match = _CODE.search(message)
    if match is None:
        return None, message
    return int(match.group(1)), message[: match.start()]
