"""A small MiniMax client, used by ``reelgate generate``: it talks to the gateway like any
other MiniMax client would, over HTTP with an API key. v1 (``/v1/...``: errors in
``base_resp``, a file to retrieve) and v2 (``/v2/...``, MiniMax-H3: errors with a real HTTP
status, the video at ``content.url``)."""

from __future__ import annotations

import base64
import mimetypes
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


class ClientError(Exception):
    def __init__(self, code: int, message: str, trace_id: str | None = None) -> None:
        super().__init__(f"{message} (code {code}{', trace ' + trace_id if trace_id else ''})")
        self.code = code


# The MIME types v2 documents for inline media (data:<kind>/<fmt>, <fmt> lower-case) by
# file suffix; mimetypes would say audio/x-wav and audio/mpeg.
_MEDIA_TYPES = {
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".wav": "audio/wav",
    ".mp3": "audio/mp3",
}
_DEFAULT_TYPE = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/mp3"}
_V2_CODE = re.compile(r"\s*\((\d+)\)\s*$")  # v2 ends an error's message with its code
V2_RUNNING = ("queued", "running")


def media_value(value: str, kind: str = "image") -> str:
    """A URL, data URI or ``mm_file://`` id is sent as is; a local file becomes a data
    URI of ``kind`` (image, video or audio), its type read from its suffix."""
    if value.startswith(("http://", "https://", "data:", "mm_file://")):
        return value
    path = Path(value)
    suffix = path.suffix.lower()
    mime = _MEDIA_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or _DEFAULT_TYPE[kind]
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def image_value(value: str) -> str:
    """A URL or data URL is sent as is; a local file becomes a data URL."""
    return media_value(value, "image")


@dataclass(frozen=True, slots=True)
class Result:
    task_id: str
    platform_id: str
    file_id: str
    width: int
    height: int
    download_url: str


class MiniMaxClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 60.0) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        resp = self._http.request(method, path, **kwargs)
        resp.raise_for_status()
        data: dict[str, Any] = resp.json()
        base = data.get("base_resp") or {}
        if base.get("status_code", -1) != 0:
            raise ClientError(
                int(base.get("status_code", -1)),
                str(base.get("status_msg", "no base_resp in the answer")),
                resp.headers.get("trace-id"),
            )
        return data

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/v1/video_generation", json=body)

    def query(self, task_id: str) -> dict[str, Any]:
        return self._call("GET", "/v1/query/video_generation", params={"task_id": task_id})

    def retrieve(self, file_id: str) -> dict[str, Any]:
        return self._call("GET", "/v1/files/retrieve", params={"file_id": file_id})["file"]  # type: ignore[no-any-return]

    def wait(
        self,
        task_id: str,
        *,
        interval: float = 1.0,
        timeout: float = 3600.0,
        on_status: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            data = self.query(task_id)
            if on_status:
                on_status(data["status"])
            if data["status"] == "Success":
                return data
            if data["status"] == "Fail":
                raise ClientError(0, f"the task failed: {data.get('error_message', '')}")
            if time.monotonic() > deadline:
                raise ClientError(0, f"gave up waiting after {timeout:.0f} s")
            time.sleep(interval)

    # -- v2 (MiniMax-H3) ------------------------------------------------------------------

    def _call_v2(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        resp = self._http.request(method, path, **kwargs)
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.is_success and isinstance(data, dict):
            return data
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            raise ClientError(resp.status_code, f"HTTP {resp.status_code}: {resp.text[:200]}")
        message = str(error.get("message") or "")
        match = _V2_CODE.search(message)
        code = int(match.group(1)) if match else resp.status_code
        shown = message[: match.start()] if match else message
        raise ClientError(code, shown, str(data.get("request_id") or "") or None)

    def create_v2(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call_v2("POST", "/v2/video_generation", json=body)

    def query_v2(self, task_id: str) -> dict[str, Any]:
        task: dict[str, Any] = self._call_v2("GET", f"/v2/query/video_generation/{task_id}")["task"]
        return task

    def wait_v2(
        self,
        task_id: str,
        *,
        interval: float = 1.0,
        timeout: float = 3600.0,
        on_status: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Poll a v2 task until it has succeeded; its task object (``content.url``: the
        video). A failed or cancelled task is a ClientError."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.query_v2(task_id)
            if on_status:
                on_status(task["status"])
            if task["status"] == "succeeded":
                return task
            if task["status"] not in V2_RUNNING:
                error = task.get("error") or {}
                code = str(error.get("code", ""))
                raise ClientError(
                    int(code) if code.isdigit() else 0,
                    f"the task {task['status']}: {error.get('message', '')}".rstrip(": "),
                )
            if time.monotonic() > deadline:
                raise ClientError(0, f"gave up waiting after {timeout:.0f} s")
            time.sleep(interval)

    def download(self, url: str) -> Iterator[tuple[bytes, int]]:
        """Stream a download URL with no auth header, as official clients do."""
        with httpx.stream("GET", url, timeout=120, trust_env=False) as resp:
            resp.raise_for_status()
            total = int(resp.headers.get("content-length") or 0)
            for chunk in resp.iter_bytes(1 << 16):
                yield chunk, total
