"""A scripted fake upstream behind the Provider port, for tests (and demos without a network).

``FakeUpstream`` is one upstream service that any number of channels reach: it is a
``ProviderFactory`` (hand it to ``create_app(..., providers=upstream)``), and each channel's
provider shares its tasks. A test steers it:

- tasks move ``Queueing -> Processing -> Success`` by the ``FakeClock`` when the upstream
  has ``timings`` (seconds queued, seconds running), or stay where they are until a cue:
  ``start(task_id)``, ``succeed(task_id)``, ``fail(task_id, code, message)``;
- ``refuse_next`` / ``fault_next`` make the next calls of an operation raise the error a
  real adapter raises (a refusal with its code, an unreachable upstream, a time-out);
- every finished task has a file whose download yields ``video_bytes``; a success cued
  with a ``usage`` reports it, as MiniMax v2 reports what it billed.

Nothing here touches the network or sleeps; every call is recorded in ``calls``.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from reelgate.domain.channels import Channel
from reelgate.domain.tasks import UpstreamStatus, Usage
from reelgate.domain.video import VideoRequest
from reelgate.errors import (
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from reelgate.providers.base import FileInfo, PushedStatus, QueryResult
from reelgate.providers.minimax import read_v1_push

Operation = Literal["submit", "query", "retrieve", "download", "cancel"]
DOWNLOAD_PREFIX = "fake-upstream://"
NOT_FOUND = 2013  # what MiniMax answers for a task or file id it does not know


class FakeClock:
    """A clock that moves only when told: ``clock()`` reads seconds (like
    ``time.monotonic``), ``clock.now()`` the matching UTC time."""

    def __init__(self, start: datetime | None = None) -> None:
        # by default it starts at the real time: what it stamps reads as recent
        self._start = start or datetime.now(UTC)
        self.elapsed = 0.0

    def __call__(self) -> float:
        return self.elapsed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.elapsed)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self.elapsed += seconds


@dataclass
class FakeTask:
    task_id: str
    channel: str
    request: VideoRequest
    callback_url: str | None
    submitted_at: float
    status: UpstreamStatus | None = None  # set by a cue; None: follow the timings
    error_code: int = 0
    error_message: str = ""
    width: int = 1280
    height: int = 720
    usage: Usage | None = None  # what the upstream billed, reported with a success

    @property
    def file_id(self) -> str:
        return f"file-{self.task_id}"


@dataclass
class Call:
    channel: str
    operation: Operation
    argument: str  # the task id, file id or URL; the model for a submit


@dataclass
class FakeUpstream:
    """One scripted upstream; calling it with a channel gives that channel's provider."""

    clock: FakeClock = field(default_factory=FakeClock)
    # (seconds queued, seconds running) after which a task succeeds; None: only cues move it
    timings: tuple[float, float] | None = None
    video_bytes: bytes = b"\x00\x00\x00\x18ftypmp42" + bytes(4096)
    tasks: dict[str, FakeTask] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    # faults queued per (operation, channel); channel None: whichever channel calls next
    _faults: dict[tuple[Operation, str | None], list[UpstreamError]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(300000000000))

    def __call__(self, channel: Channel) -> FakeProvider:
        return FakeProvider(channel.name, self)

    # -- cues ---------------------------------------------------------------------------

    def refuse_next(
        self,
        operation: Operation,
        code: int,
        message: str,
        times: int = 1,
        channel: str | None = None,
    ) -> None:
        """The next ``times`` calls of ``operation`` (through ``channel`` only, if named)
        are refused with MiniMax ``code``."""
        errors = (UpstreamRejected(code, message) for _ in range(times))
        self.fault_next(operation, *errors, channel=channel)

    def fault_next(
        self, operation: Operation, *errors: UpstreamError, channel: str | None = None
    ) -> None:
        """The next calls of ``operation`` (through ``channel`` only, if named) raise
        these, in order."""
        self._faults.setdefault((operation, channel), []).extend(errors)

    def clear_faults(self) -> None:
        """Forget the faults queued and not yet met."""
        self._faults.clear()

    def unreachable_next(
        self, operation: Operation, times: int = 1, channel: str | None = None
    ) -> None:
        errors = (UpstreamUnreachable(f"upstream {operation} failed: ConnectError"),) * times
        self.fault_next(operation, *errors, channel=channel)

    def timeout_next(self, operation: Operation, times: int = 1) -> None:
        self.fault_next(operation, *(UpstreamTimeout(f"upstream {operation} timed out"),) * times)

    def start(self, task_id: str) -> None:
        self._task(task_id).status = UpstreamStatus.PROCESSING

    def succeed(
        self, task_id: str, width: int = 1280, height: int = 720, usage: Usage | None = None
    ) -> None:
        task = self._task(task_id)
        task.status, task.width, task.height = UpstreamStatus.SUCCESS, width, height
        task.usage = usage

    def fail(self, task_id: str, code: int = 1000, message: str = "generation failed") -> None:
        task = self._task(task_id)
        task.status, task.error_code, task.error_message = UpstreamStatus.FAIL, code, message

    def succeed_all(self) -> None:
        for task_id in self.tasks:
            if self.status(task_id) not in (UpstreamStatus.SUCCESS, UpstreamStatus.FAIL):
                self.succeed(task_id)

    # -- what a provider sees -------------------------------------------------------------

    def status(self, task_id: str) -> UpstreamStatus:
        task = self._task(task_id)
        if task.status is not None:
            return task.status
        if self.timings is None:
            return UpstreamStatus.QUEUEING
        queued, running = self.timings
        age = self.clock() - task.submitted_at
        if age < queued:
            return UpstreamStatus.QUEUEING
        if age < queued + running:
            return UpstreamStatus.PROCESSING
        return UpstreamStatus.SUCCESS

    def called(self, operation: Operation) -> list[Call]:
        return [c for c in self.calls if c.operation == operation]

    def _task(self, task_id: str) -> FakeTask:
        task = self.tasks.get(task_id)
        if task is None:
            raise UpstreamRejected(NOT_FOUND, f"invalid params, task {task_id} not found")
        return task

    def _enter(self, channel: str, operation: Operation, argument: str) -> None:
        self.calls.append(Call(channel, operation, argument))
        for key in ((operation, channel), (operation, None)):  # the channel's own first
            queued = self._faults.get(key)
            if queued:
                raise queued.pop(0)


class FakeProvider:
    """One channel's view of a ``FakeUpstream``."""

    def __init__(self, name: str, upstream: FakeUpstream) -> None:
        self.name = name
        self._up = upstream

    def __repr__(self) -> str:
        return f"FakeProvider({self.name!r})"

    async def submit(self, request: VideoRequest, callback_url: str | None = None) -> str:
        up = self._up
        up._enter(self.name, "submit", request.model)
        task_id = str(next(up._ids))
        up.tasks[task_id] = FakeTask(task_id, self.name, request, callback_url, up.clock())
        return task_id

    async def query(self, upstream_task_id: str, model: str | None = None) -> QueryResult:
        up = self._up
        up._enter(self.name, "query", upstream_task_id)
        status = up.status(upstream_task_id)
        task = up.tasks[upstream_task_id]
        if status is UpstreamStatus.SUCCESS:
            return QueryResult(status, task.file_id, task.width, task.height, usage=task.usage)
        if status is UpstreamStatus.FAIL:
            return QueryResult(status, error_code=task.error_code, error_message=task.error_message)
        return QueryResult(status)

    async def retrieve_file(self, file_id: str, model: str | None = None) -> FileInfo:
        up = self._up
        up._enter(self.name, "retrieve", file_id)
        task_id = file_id.removeprefix("file-")
        if up.status(task_id) is not UpstreamStatus.SUCCESS:
            raise UpstreamRejected(NOT_FOUND, f"invalid params, file {file_id} not found")
        now = up.clock.now()
        return FileInfo(
            file_id=file_id,
            bytes=len(up.video_bytes),
            filename="output.mp4",
            download_url=f"{DOWNLOAD_PREFIX}{self.name}/{file_id}.mp4",
            created_at=now,
            expires_at=now + timedelta(hours=1),
        )

    async def cancel(self, upstream_task_id: str, model: str | None = None) -> bool:
        """As v2's DELETE: a task not yet running is cancelled (it reads as failed)."""
        up = self._up
        up._enter(self.name, "cancel", upstream_task_id)
        if up.status(upstream_task_id) is not UpstreamStatus.QUEUEING:
            return False
        up.fail(upstream_task_id, 0, "cancelled")
        return True

    def read_push(
        self, body: Mapping[str, object], model: str | None = None
    ) -> PushedStatus | None:
        return read_v1_push(body)  # the fake speaks v1's shapes

    async def download(self, url: str) -> AsyncIterator[bytes]:
        self._up._enter(self.name, "download", url)
        if not url.startswith(DOWNLOAD_PREFIX):
            raise UpstreamRejected(1000, f"refused download URL: {url}")
        data = self._up.video_bytes
        chunk = 1 << 16
        for start in range(0, len(data), chunk):
            yield data[start : start + chunk]
