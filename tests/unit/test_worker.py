"""The Worker supervises named loops: graceful stop, restarts, and giving up."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from reelgate.worker import Worker, WorkerFailed


class Steady:
    """Works in rounds until stopped, like the tracker."""

    def __init__(self, round_s: float = 0.01) -> None:
        self.round_s = round_s
        self.rounds = 0
        self.finished_round = False
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            await asyncio.sleep(self.round_s)
            self.rounds += 1
        self.finished_round = True

    def stop(self) -> None:
        self._stop.set()


class Crashing:
    def __init__(self, crashes: int) -> None:
        self.left = crashes
        self.starts = 0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        self.starts += 1
        if self.left > 0:
            self.left -= 1
            raise RuntimeError("boom")
        await self._stop.wait()

    def stop(self) -> None:
        self._stop.set()


class Stuck:
    def __init__(self) -> None:
        self.cancelled = False

    async def run(self) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    def stop(self) -> None:
        pass  # ignores the request: the grace period must end it


async def test_stop_lets_each_loop_finish_its_round() -> None:
    a, b = Steady(), Steady(0.05)
    worker = Worker({"a": a, "b": b})
    job = asyncio.create_task(worker.run())
    await asyncio.sleep(0.2)
    worker.stop()
    await asyncio.wait_for(job, 2)
    assert a.rounds > 5 and b.rounds > 1
    assert a.finished_round and b.finished_round
    assert worker.failure is None


async def test_a_crashed_loop_is_restarted() -> None:
    flaky, steady = Crashing(2), Steady()
    worker = Worker({"flaky": flaky, "steady": steady}, restart_delay_s=0.01)
    job = asyncio.create_task(worker.run())
    await asyncio.sleep(0.3)
    assert flaky.starts == 3 and not job.done()
    worker.stop()
    await asyncio.wait_for(job, 2)


async def test_a_loop_that_keeps_crashing_stops_the_worker() -> None:
    broken, steady = Crashing(100), Steady()
    worker = Worker(
        {"broken": broken, "steady": steady},
        max_crashes=3,
        crash_window_s=10,
        restart_delay_s=0.01,
    )
    with pytest.raises(WorkerFailed, match="'broken' crashed 3 times"):
        await asyncio.wait_for(worker.run(), 5)
    assert broken.starts == 3
    assert steady.finished_round  # the others were stopped gracefully
    assert worker.failure is not None


async def test_a_loop_that_ignores_stop_is_cancelled_after_the_grace_period() -> None:
    stuck = Stuck()
    worker = Worker({"stuck": stuck}, shutdown_grace_s=0.1)
    job = asyncio.create_task(worker.run())
    await asyncio.sleep(0.05)
    worker.stop()
    await asyncio.wait_for(job, 2)
    assert stuck.cancelled


async def test_sigterm_stops_the_worker_gracefully() -> None:
    steady = Steady()
    worker = Worker({"steady": steady})
    job = asyncio.create_task(worker.run_until_signalled())
    await asyncio.sleep(0.1)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(job, 2)
    assert steady.finished_round
