"""Tasks, their states and how they read in MiniMax's vocabulary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from reelgate.domain import upstream_codes
from reelgate.domain.upstream_fields import Scalar


class TaskStatus(StrEnum):
    """The platform's own status of a task."""

    SUBMITTING = "submitting"  # stored, upstream not yet answered
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def public(self) -> str:
        """What the platform API shows: a submitting task reads as queued."""
        return TaskStatus.QUEUED.value if self is TaskStatus.SUBMITTING else self.value


TERMINAL = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED})
UNFINISHED = frozenset(TaskStatus) - TERMINAL


class UpstreamStatus(StrEnum):
    """MiniMax's query status strings, capitalised exactly as MiniMax sends them."""

    PREPARING = "Preparing"
    QUEUEING = "Queueing"
    PROCESSING = "Processing"
    SUCCESS = "Success"
    FAIL = "Fail"

    @classmethod
    def parse(cls, value: str) -> UpstreamStatus | None:
        """Read a status case-insensitively (callbacks send lowercase, 'failed')."""
        low = value.strip().lower()
        aliases = {"failed": "fail", "succeeded": "success", "queued": "queueing"}
        low = aliases.get(low, low)
        for member in cls:
            if member.value.lower() == low:
                return member
        return None

    @property
    def platform(self) -> TaskStatus:
        return _TO_PLATFORM[self]


_TO_PLATFORM = {
    UpstreamStatus.PREPARING: TaskStatus.QUEUED,
    UpstreamStatus.QUEUEING: TaskStatus.QUEUED,
    UpstreamStatus.PROCESSING: TaskStatus.RUNNING,
    UpstreamStatus.SUCCESS: TaskStatus.SUCCEEDED,
    UpstreamStatus.FAIL: TaskStatus.FAILED,
}


@dataclass(frozen=True, slots=True)
class VideoFile:
    """The result of a successful task, as far as the gateway knows it."""

    file_id: str
    width: int
    height: int
    bytes: int | None = None
    filename: str = "output.mp4"
    upstream_url: str | None = None
    upstream_url_expires_at: datetime | None = None
    storage_key: str | None = None  # set once the gateway holds its own copy
    sha256: str | None = None
    created_at: datetime | None = None
    # the upstream file object's other fields (e.g. backup_download_url) as the upstream
    # sent them, bounded (domain/upstream_fields.py); files/retrieve passes them on
    extra: Mapping[str, Scalar] = field(default_factory=dict)


# Failure codes that MiniMax itself puts in base_resp next to status "Fail" (the table's
# ``rides_with_fail``: content refused on the way in, 1026, or out, 1027). The gateway's
# own failures (deadline, cancel, lost) keep 0 there, as clients treat a non-zero code as
# a refused request.
MINIMAX_FAIL_CODES = upstream_codes.RIDES_WITH_FAIL


@dataclass(frozen=True, slots=True)
class Usage:
    """What the upstream billed for a finished task, as MiniMax's v2 reports it: seconds
    of output and of reference video, input images, reference audio seconds."""

    output_seconds: int
    input_seconds: int = 0
    input_image_count: int = 0
    input_audio_seconds: int | None = None

    @property
    def total_seconds(self) -> int:
        return self.output_seconds + self.input_seconds

    def as_dict(self) -> dict[str, int]:
        out = {
            "total_seconds": self.total_seconds,
            "input_seconds": self.input_seconds,
            "output_seconds": self.output_seconds,
            "input_image_count": self.input_image_count,
        }
        if self.input_audio_seconds is not None:
            out["input_audio_seconds"] = self.input_audio_seconds
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        """From v2's usage object (or our own ``as_dict``); missing counters are 0."""

        def count(name: str) -> int:
            value = data.get(name)
            return value if isinstance(value, int) and not isinstance(value, bool) else 0

        audio = data.get("input_audio_seconds")
        return cls(
            output_seconds=count("output_seconds"),
            input_seconds=count("input_seconds"),
            input_image_count=count("input_image_count"),
            input_audio_seconds=audio if isinstance(audio, int) else None,
        )


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    platform_id: str
    account_id: int
    api_key_id: int | None
    model: str
    mode: str
    status: TaskStatus
    upstream_status: UpstreamStatus | None
    upstream_task_id: str | None
    channel: str
    request: dict[str, Any]
    duration: int
    resolution: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    deadline_at: datetime
    error_code: int | None
    error_message: str | None
    error_reason: str | None
    file: VideoFile | None
    callback_url: str | None = None
    price: int = 0
    poll_attempts: int = 0
    missing_polls: int = 0  # consecutive polls the upstream answered "task not found"
    copy_attempts: int = 0  # failed tries to copy the video into the gateway's storage
    next_poll_at: datetime | None = None
    upstream_callback: bool = False  # the upstream pushes changes; polling is the safety net
    ratio: str | None = None  # v2: the ratio asked, then the one the upstream chose
    usage: Usage | None = None  # v2: what the upstream billed, once succeeded

    @property
    def minimax_status(self) -> str:
        """The status as MiniMax's query shows it."""
        if self.status is TaskStatus.SUCCEEDED:
            return UpstreamStatus.SUCCESS.value
        if self.status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
            return UpstreamStatus.FAIL.value
        if self.upstream_status is not None:
            return self.upstream_status.value
        return UpstreamStatus.PREPARING.value

    @property
    def minimax_base_resp(self) -> dict[str, Any]:
        """``base_resp`` as MiniMax's query (and its push, which has the query's shape)
        shows it: a failure's own code where MiniMax puts one next to ``Fail``; 0 for the
        rest, whose reason is in ``error_message``."""
        if self.status.terminal and self.error_code in MINIMAX_FAIL_CODES:
            return {"status_code": self.error_code, "status_msg": self.failure_message}
        return {"status_code": 0, "status_msg": "success"}

    @property
    def failure_message(self) -> str:
        return self.error_message or "the task failed"


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One status change of a task, numbered from 1 in the order they happened."""

    seq: int
    status: TaskStatus
    upstream_status: UpstreamStatus | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """What a task list is narrowed to (GET /v1/tasks); None: any."""

    status: str | None = None
    model: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    models: frozenset[str] | None = None  # one wire's models (v2's list shows only v2's)
    ids: frozenset[str] | None = None  # either id of each task wanted


class FailureReason(StrEnum):
    """Why a task ended without a video: machine-readable, next to the code and message."""

    UPSTREAM_FAILED = "upstream_failed"
    UPSTREAM_REFUSED = "upstream_refused"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    CANCELLED = "cancelled"
    LOST = "lost_upstream"
    INTERRUPTED = "interrupted"
