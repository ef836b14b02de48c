"""Videos: copying results into the gateway's storage and handing out signed URLs."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from reelgate.domain import signing
from reelgate.domain.tasks import Task, VideoFile
from reelgate.errors import UpstreamError
from reelgate.providers.base import Provider
from reelgate.storage.base import Storage, StoredObject

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FileObject:
    """MiniMax's file object, as ``files/retrieve`` returns it."""

    file_id: str
    bytes: int
    created_at: int
    filename: str
    download_url: str

    def as_minimax(self) -> dict[str, object]:
        file_id: object = int(self.file_id) if self.file_id.isdigit() else self.file_id
        return {
            "file_id": file_id,
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": "video_generation",
            "download_url": self.download_url,
        }


def storage_key(task: Task) -> str:
    return f"{task.created_at:%Y/%m/%d}/{task.platform_id}.mp4"


class FileService:
    def __init__(
        self,
        *,
        storage: Storage,
        provider: Provider,
        secret: bytes,
        base_url: str,
        url_ttl_s: int,
    ) -> None:
        self._storage = storage
        self._provider = provider
        self._secret = secret
        self._base_url = base_url.rstrip("/")
        self._ttl = url_ttl_s

    async def copy(self, task: Task, download_url: str) -> StoredObject:
        """Copy the upstream's video into storage; raises UpstreamError if the download fails."""
        return await self._storage.save(storage_key(task), self._provider.download(download_url))

    async def try_copy(self, task: Task, download_url: str) -> StoredObject | None:
        try:
            return await self.copy(task, download_url)
        except (UpstreamError, OSError) as exc:
            log.warning("copy of %s failed, will retry: %s", task.platform_id, exc)
            return None

    def signed_url(self, task: Task, now: float | None = None) -> str:
        expires = int(now if now is not None else time.time()) + self._ttl
        sig = signing.sign(self._secret, task.platform_id, expires)
        return f"{self._base_url}/files/{task.platform_id}.mp4?expires={expires}&sig={sig}"

    def verify(self, platform_id: str, expires: int, sig: str) -> bool:
        return signing.verify(self._secret, platform_id, expires, sig, time.time())

    async def file_object(self, task: Task) -> FileObject:
        """The file object with a download URL that works with a plain GET, issued afresh."""
        file = task.file
        assert file is not None
        if file.storage_key is not None:
            url = self.signed_url(task)
        else:
            # Not copied yet: pass the upstream's URL on, fetching a fresh one if it expired.
            url = await self._fresh_upstream_url(file)
        return FileObject(
            file_id=file.file_id,
            bytes=file.bytes or 0,
            created_at=int((file.created_at or task.finished_at or task.created_at).timestamp()),
            filename=file.filename,
            download_url=url,
        )

    async def _fresh_upstream_url(self, file: VideoFile) -> str:
        expires = file.upstream_url_expires_at
        if file.upstream_url and expires is not None and expires.timestamp() > time.time() + 60:
            return file.upstream_url
        info = await self._provider.retrieve_file(file.file_id)
        return info.download_url

    def local_path(self, task: Task) -> Path | None:
        if task.file is None or task.file.storage_key is None:
            return None
        return self._storage.local_path(task.file.storage_key)
