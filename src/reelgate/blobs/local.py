"""Videos in a folder of the data directory."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from reelgate.blobs.base import CHUNK, StoredObject, check_key


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def local_path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root.resolve()):  # e.g. through a symlink
            raise ValueError(f"storage key escapes the root: {key!r}")
        return path

    async def exists(self, key: str) -> bool:
        return self.local_path(key).is_file()

    async def size(self, key: str) -> int | None:
        path = self.local_path(key)
        return path.stat().st_size if path.is_file() else None

    async def delete(self, key: str) -> None:
        self.local_path(key).unlink(missing_ok=True)

    async def save(self, key: str, chunks: AsyncIterator[bytes]) -> StoredObject:
        path = self.local_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        digest = hashlib.sha256()
        size = 0
        try:
            with tmp.open("wb") as out:
                async for chunk in chunks:
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())  # the copy must survive a crash once recorded
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return StoredObject(key, size, digest.hexdigest())

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        with self.local_path(key).open("rb") as src:  # FileNotFoundError when absent
            src.seek(start)
            left = None if end is None else max(0, end - start)
            while left is None or left > 0:
                want = CHUNK if left is None else min(CHUNK, left)
                chunk = await asyncio.to_thread(_read, src, want)
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    async def presigned_url(self, key: str, expires_in: int, filename: str) -> str | None:
        return None  # the gateway serves a folder itself

    async def aclose(self) -> None:
        return None


def _read(src: BinaryIO, n: int) -> bytes:
    return src.read(n)
