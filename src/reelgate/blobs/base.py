"""The Storage port: save a stream under a key, and get it back.

Adapters (``local.py``, ``s3.py``) are the only modules that see their backend's
exceptions: they raise ``OSError`` (``FileNotFoundError`` for a key that is not there) or
``StorageError`` below, and nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from reelgate.errors import ReelgateError

CHUNK = 1 << 16  # bytes per chunk when an adapter streams an object out


class StorageError(ReelgateError):
    """The video storage is unavailable; try again later."""

    code = 1000
    http_status = 503
    kind = "storage_unavailable"


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    size: int
    sha256: str


class Storage(Protocol):
    async def save(self, key: str, chunks: AsyncIterator[bytes]) -> StoredObject:
        """Write all of ``chunks`` under ``key`` atomically; return its size and digest.

        Memory stays bounded whatever the length of the stream; a failed save leaves
        nothing behind under ``key``.
        """
        ...

    async def exists(self, key: str) -> bool: ...

    async def size(self, key: str) -> int | None:
        """The object's length in bytes, or None if there is no object under ``key``."""
        ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes ``[start, end)`` of the object (to its end when ``end`` is None).

        Raises FileNotFoundError when the object is not there.
        """
        ...

    async def delete(self, key: str) -> None:
        """Remove the object (a deleted task's video); nothing there is not an error."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A path on this machine to serve the object from, if the backend has one."""
        ...

    async def presigned_url(self, key: str, expires_in: int, filename: str) -> str | None:
        """A URL that GETs the object without credentials for ``expires_in`` seconds, if the
        backend can issue one (object stores can; a local folder cannot)."""
        ...

    async def aclose(self) -> None:
        """Release connections; the storage is not used afterwards."""
        ...


def check_key(key: str) -> str:
    """Refuse keys that are absolute or climb out of the root (``..``)."""
    parts = PurePosixPath(key).parts
    if not key or key.startswith("/") or "\\" in key or ".." in parts:
        raise ValueError(f"storage key escapes the root: {key!r}")
    return key
