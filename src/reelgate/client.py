"""A small MiniMax v1 client, used by ``reelgate generate``: it talks to the gateway like
any other MiniMax client would, over HTTP with an API key."""

from __future__ import annotations

import base64
import mimetypes
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


def image_value(value: str) -> str:
    """A URL or data URL is sent as is; a local file becomes a data URL."""
    if value.startswith(("http://", "https://", "data:")):
        return value
    path = Path(value)
    mime = mimetypes.guess_type(path.name)[0] or "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


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

    def download(self, url: str) -> Iterator[tuple[bytes, int]]:
        """Stream a download URL with no auth header, as official clients do."""
        with httpx.stream("GET", url, timeout=120, trust_env=False) as resp:
            resp.raise_for_status()
            total = int(resp.headers.get("content-length") or 0)
            for chunk in resp.iter_bytes(1 << 16):
                yield chunk, total
