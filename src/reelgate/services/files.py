"""Videos: copying results into the gateway's storage and handing out signed URLs."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from reelgate.blobs.base import Storage, StorageError, StoredObject
from reelgate.domain import signing
from reelgate.domain.tasks import Task, VideoFile
from reelgate.domain.upstream_fields import Scalar, is_http_url
from reelgate.errors import UpstreamError
from reelgate.providers.base import Provider

log = logging.getLogger(__name__)

CopyMode = Literal["always", "never"]
MIN_REDIRECT_TTL_S = 60  # a redirect target outlives a link about to expire by this much


@dataclass(frozen=True, slots=True)
class LocalVideo:
    """The gateway's copy, as a file on this machine."""

    path: Path


@dataclass(frozen=True, slots=True)
class StoredVideo:
    """The gateway's copy in a remote store, streamed through the gateway."""

    key: str
    size: int
    sha256: str | None


@dataclass(frozen=True, slots=True)
class RedirectVideo:
    """The gateway's copy in a remote store, fetched by the client from a presigned URL."""

    url: str
    size: int


@dataclass(frozen=True, slots=True)
class UpstreamVideo:
    """No copy (not yet, or not kept): the upstream's URL, fresh."""

    url: str
    size: int | None


VideoSource = LocalVideo | StoredVideo | RedirectVideo | UpstreamVideo


@dataclass(frozen=True, slots=True)
class FileObject:
    """A finished video's file, as a client is shown it: the fields the gateway writes,
    then the upstream's other fields (``extra``, e.g. ``backup_download_url``). The
    MiniMax surface writes it as MiniMax's file object (``surfaces/minimax_v1/schemas``)."""

    file_id: str
    bytes: int
    created_at: int
    filename: str
    download_url: str
    extra: Mapping[str, Scalar] = field(default_factory=dict)


def storage_key(task: Task) -> str:
    return f"{task.created_at:%Y/%m/%d}/{task.platform_id}.mp4"


class FileService:
    def __init__(
        self,
        *,
        storage: Storage,
        providers: Callable[[str], Provider],
        secret: bytes,
        base_url: str,
        url_ttl_s: int,
        copy_videos: CopyMode = "always",
        redirect_downloads: bool = False,
    ) -> None:
        self._storage = storage
        self._providers = providers  # channel name -> its provider
        self._secret = secret
        self._base_url = base_url.rstrip("/")
        self._ttl = url_ttl_s
        self._copies = copy_videos == "always"
        self._redirect = redirect_downloads

    @property
    def copies(self) -> bool:
        """Whether finished videos are copied into storage (``copy_videos=always``)."""
        return self._copies

    async def copy(self, task: Task, download_url: str) -> StoredObject:
        """Copy the upstream's video into storage.

        Raises UpstreamError if the download fails, StorageError or OSError if the write does.
        """
        return await self._storage.save(storage_key(task), self.download(task, download_url))

    async def forget(self, task: Task) -> None:
        """Remove the gateway's copy of a deleted task's video, if it has one."""
        if task.file is not None and task.file.storage_key is not None:
            await self._storage.delete(task.file.storage_key)

    async def try_copy(self, task: Task, download_url: str) -> StoredObject | None:
        """The copy, or None: copying is off, or it failed (logged; the sweep retries)."""
        if not self._copies:
            return None
        try:
            return await self.copy(task, download_url)
        except (UpstreamError, StorageError, OSError) as exc:
            log.warning("copy of %s failed, will retry: %s", task.platform_id, exc)
            return None

    def signed_url(self, task: Task, now: float | None = None) -> str:
        expires = int(now if now is not None else time.time()) + self._ttl
        sig = signing.sign(self._secret, task.platform_id, expires)
        return f"{self._base_url}/files/{task.platform_id}.mp4?expires={expires}&sig={sig}"

    def verify(self, platform_id: str, expires: int, sig: str) -> bool:
        return signing.verify(self._secret, platform_id, expires, sig, time.time())

    async def file_object(self, task: Task) -> FileObject:
        """The file object with a download URL that works with a plain GET, issued afresh.

        The upstream's other fields are passed on; those whose value is a URL (such as
        ``backup_download_url``) point at the gateway's copy where it has one, like
        ``download_url``, and are the upstream's own links where it has none.
        """
        file = task.file
        assert file is not None
        extra: Mapping[str, Scalar]
        if file.storage_key is not None:
            url = self.signed_url(task)
            extra = {k: url if is_http_url(v) else v for k, v in file.extra.items()}
        else:
            # Not copied yet: pass the upstream's URLs on, fetching fresh ones if expired.
            url, extra = await self._fresh_upstream(task, file)
        return FileObject(
            file_id=file.file_id,
            bytes=file.bytes or 0,
            created_at=int((file.created_at or task.finished_at or task.created_at).timestamp()),
            filename=file.filename,
            download_url=url,
            extra=extra,
        )

    async def _fresh_upstream(
        self, task: Task, file: VideoFile
    ) -> tuple[str, Mapping[str, Scalar]]:
        """The upstream's download URL and other fields, as recorded while the URL is fresh,
        else as a new ``files/retrieve`` upstream answers them."""
        expires = file.upstream_url_expires_at
        if file.upstream_url and expires is not None and expires.timestamp() > time.time() + 60:
            return file.upstream_url, file.extra
        info = await self._providers(task.channel).retrieve_file(file.file_id)
        return info.download_url, info.extra

    async def _fresh_upstream_url(self, task: Task, file: VideoFile) -> str:
        return (await self._fresh_upstream(task, file))[0]

    def local_path(self, task: Task) -> Path | None:
        if task.file is None or task.file.storage_key is None:
            return None
        return self._storage.local_path(task.file.storage_key)

    async def source(self, task: Task, *, link_expires: int | None = None) -> VideoSource:
        """Where to serve the task's video from.

        ``link_expires`` is the expiry of the signed link being served: given, and with
        redirects on, a remote copy is answered with a presigned URL that lives as long as
        the link (at least a minute). Without it (``retrieve_content``) the bytes always go
        through the gateway. A copy that is missing or unreachable falls back to the
        upstream's URL, so a download works whenever either side has the video.
        """
        file = task.file
        assert file is not None
        key = file.storage_key
        if key is not None:
            try:
                found = await self._stored(task, key, link_expires)
            except StorageError as exc:
                log.warning(
                    "storage unreachable for %s, serving upstream: %s", task.platform_id, exc
                )
                found = None
            if found is not None:
                return found
            log.warning("copy of %s missing from storage, serving upstream", task.platform_id)
        return UpstreamVideo(await self._fresh_upstream_url(task, file), file.bytes)

    async def _stored(
        self, task: Task, key: str, link_expires: int | None
    ) -> LocalVideo | StoredVideo | RedirectVideo | None:
        path = self._storage.local_path(key)
        if path is not None:
            return LocalVideo(path) if path.is_file() else None
        size = await self._storage.size(key)
        if size is None:
            return None
        if self._redirect and link_expires is not None:
            ttl = max(MIN_REDIRECT_TTL_S, link_expires - int(time.time()))
            url = await self._storage.presigned_url(key, ttl, f"{task.platform_id}.mp4")
            if url is not None:
                return RedirectVideo(url, size)
        return StoredVideo(key, size, task.file.sha256 if task.file else None)

    def read(
        self, video: StoredVideo, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)`` of the gateway's copy."""
        return self._storage.read(video.key, start, end)

    def download(self, task: Task, url: str) -> AsyncIterator[bytes]:
        """The bytes at an upstream download URL, through the task's channel."""
        return self._providers(task.channel).download(url)
