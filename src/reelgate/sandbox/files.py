"""The sandbox's videos as clients reach them: signed, expiring download URLs (v1's
``files/retrieve`` hands them out, v2's query puts one in ``content.url``) and what such a
URL leads to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelgate.domain import signing
from reelgate.sandbox.faults import FaultKind
from reelgate.sandbox.state import SandboxState, SandboxTask


@dataclass(frozen=True, slots=True)
class Download:
    """What a download URL leads to: the video, or nothing (404), and why."""

    task: SandboxTask | None
    path: Path | None
    faulted: bool = False


class Files:
    def __init__(self, state: SandboxState, *, url_ttl_s: int, clock: Callable[[], float]) -> None:
        self._state = state
        self._secret = state.secret()
        self._url_ttl = url_ttl_s
        self._clock = clock

    def url(self, task: SandboxTask, base_url: str) -> str:
        """A fresh signed URL of the task's video, valid ``url_ttl_s`` seconds."""
        expires = int(self._clock()) + self._url_ttl
        sig = signing.sign(self._secret, task.file_id, expires)
        return (
            f"{base_url.rstrip('/')}/v1/files/download/{task.file_id}.mp4"
            f"?expires={expires}&sig={sig}"
        )

    def retrieve(self, task: SandboxTask, base_url: str) -> dict[str, Any]:
        """v1's file object of the task's video."""
        url = self.url(task, base_url)
        return {
            "file_id": int(task.file_id),
            "bytes": task.bytes,
            "created_at": int(task.created_at),
            "filename": "output.mp4",
            "purpose": "video_generation",
            "download_url": url,
            # The real service adds a second link to the same file, on another store
            # (reference 2.2): here a distinct URL that the same route serves.
            "backup_download_url": f"{url}&mirror=backup",
        }

    def download(self, file_id: str, expires: int, sig: str) -> Download:
        """The video behind a download URL; no path (404) if unknown, expired or faulted.

        An injected ``download_404`` makes the first valid download of the file miss.
        """
        task = self._state.by_file(file_id)
        if task is None or not task.rendered:
            return Download(task, None)
        if not signing.verify(self._secret, file_id, expires, sig, self._clock()):
            return Download(task, None)
        task.downloads += 1
        self._state.save(task)
        if FaultKind.DOWNLOAD_404 in task.faults and task.downloads == 1:
            return Download(task, None, faulted=True)
        return Download(task, self._state.video_path(task))
