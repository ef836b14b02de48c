"""Videos in a folder of the data directory."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from reelgate.storage.base import StoredObject


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def local_path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"storage key escapes the root: {key!r}")
        return path

    async def exists(self, key: str) -> bool:
        return self.local_path(key).is_file()

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
