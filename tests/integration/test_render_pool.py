"""The render pool: renders off the event loop, and leaves no process behind."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from reelgate.sandbox.pool import RenderPool
from reelgate.sandbox.render import RenderRequest, output_size


async def test_closing_the_pool_ends_a_busy_worker(tmp_path: Path) -> None:
    width, height = output_size("720P")
    long_render = RenderRequest(mode="t2v", prompt="x", width=width, height=height, duration=30)
    pool = RenderPool(1)
    job = asyncio.ensure_future(pool.render(long_render, tmp_path / "long.mp4"))
    await asyncio.sleep(0)
    executor = pool._executor
    assert executor is not None
    for _ in range(300):  # the spawned worker imports the renderer, then takes the job
        if _busy(executor):
            break
        await asyncio.sleep(0.05)
    workers = list((executor._processes or {}).values())
    assert workers
    pool.close()
    for worker in workers:
        worker.join(timeout=2)  # the render alone takes far longer than this
        assert not worker.is_alive()
    job.cancel()


def _busy(executor: object) -> bool:
    processes = getattr(executor, "_processes", None) or {}
    return any(_cpu_seconds(p.pid) > 0.5 for p in processes.values())


def _cpu_seconds(pid: int | None) -> float:
    if pid is None or sys.platform != "linux":
        return 0.0
    out = subprocess.run(["ps", "-o", "times=", "-p", str(pid)], capture_output=True, text=True)
    return float(out.stdout.strip() or 0)
