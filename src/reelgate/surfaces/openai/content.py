"""The previews that ``GET /v1/videos/{id}/content`` serves, from wherever the video is.

A preview (``thumbnail``, ``spritesheet``: ``reelgate.media.previews``) is drawn from a
file on this machine: the gateway's copy where it is local, else the video fetched into a
temporary file (an S3 copy, or the upstream's while no copy is kept), removed after.
Drawing is CPU bound and runs on a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from reelgate.domain.tasks import Task
from reelgate.services.files import FileService, LocalVideo, StoredVideo, UpstreamVideo
from reelgate.surfaces.openai.variants import draw


async def preview(files: FileService, task: Task, variant: str) -> bytes:
    """The JPEG ``variant`` of a finished task's video."""
    local = files.local_path(task)
    if local is not None and local.is_file():
        return await asyncio.to_thread(draw, variant, local)
    source = await files.source(task)
    if isinstance(source, LocalVideo):
        return await asyncio.to_thread(draw, variant, source.path)
    if isinstance(source, StoredVideo):
        chunks = files.read(source)
    else:
        assert isinstance(source, UpstreamVideo)  # no redirect without a signed link
        chunks = files.download(task, source.url)
    with _scratch() as path:
        await _save(chunks, path)
        return await asyncio.to_thread(draw, variant, path)


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="reelgate-preview-") as directory:
        yield Path(directory) / "video.mp4"


async def _save(chunks: AsyncIterator[bytes], path: Path) -> None:
    out = await asyncio.to_thread(path.open, "wb")
    try:
        async for chunk in chunks:
            await asyncio.to_thread(out.write, chunk)
    finally:
        await asyncio.to_thread(out.close)
