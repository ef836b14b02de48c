"""The Storage port: save a stream under a key, and get it back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    size: int
    sha256: str


class Storage(Protocol):
    async def save(self, key: str, chunks: AsyncIterator[bytes]) -> StoredObject:
        """Write all of ``chunks`` under ``key`` atomically; return its size and digest."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A path on this machine to serve the object from, if there is one."""
        ...

    async def exists(self, key: str) -> bool: ...
