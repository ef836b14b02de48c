"""Rendering off the event loop, in a bounded pool of processes."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from reelgate.sandbox.render.request import RenderRequest


def _render(request: RenderRequest, out: str) -> int:
    # runs in a render worker: only the workers load the imaging libraries
    from reelgate.sandbox.render.video import render_video

    path = Path(out)
    render_video(request, path)
    return path.stat().st_size


class RenderPool:
    """At most ``workers`` videos render at once; the rest wait their turn."""

    def __init__(self, workers: int) -> None:
        self._workers = max(1, workers)
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn, not fork: forking a process that runs an event loop and threads is unsafe
            self._executor = ProcessPoolExecutor(
                self._workers, mp_context=multiprocessing.get_context("spawn")
            )
        return self._executor

    async def render(self, request: RenderRequest, out: Path) -> int:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), _render, request, str(out))

    def close(self) -> None:
        if self._executor is not None:
            # shutdown(wait=False) alone leaves busy workers (and so the process tree)
            # running after we exit; a render cut short is redone after a restart anyway
            workers = list((self._executor._processes or {}).values())
            self._executor.shutdown(wait=False, cancel_futures=True)
            for process in workers:
                process.terminate()
            self._executor = None
