"""What goes into a ``tasks`` row and what comes out of one: the insert's input and the
mapping of rows to domain objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reelgate.domain.tasks import Task, TaskEvent, TaskStatus, UpstreamStatus, Usage, VideoFile
from reelgate.domain.tasks import TaskFilter as TaskFilter  # re-exported: it lived here


@dataclass(frozen=True, slots=True)
class NewTask:
    platform_id: str
    account_id: int
    api_key_id: int | None
    model: str
    mode: str
    channel: str
    request: dict[str, Any]
    duration: int
    resolution: str
    price: int
    callback_url: str | None
    deadline_at: datetime
    ratio: str | None = None
    max_in_flight: int | None = None  # the key's limit, checked under the account's lock
    account_max_in_flight: int | None = None  # the account's, over all of its keys


def _upstream(value: str | None) -> UpstreamStatus | None:
    return UpstreamStatus(value) if value else None


def to_file(row: Any) -> VideoFile | None:
    return _file(row._mapping)


def _file(row: Any) -> VideoFile | None:
    if row["file_id"] is None:
        return None
    return VideoFile(
        file_id=row["file_id"],
        width=row["file_width"] or 0,
        height=row["file_height"] or 0,
        bytes=row["file_bytes"],
        filename=row["file_name"] or "output.mp4",
        upstream_url=row["file_upstream_url"],
        upstream_url_expires_at=row["file_upstream_expires_at"],
        storage_key=row["file_storage_key"],
        sha256=row["file_sha256"],
        created_at=row["file_created_at"],
        extra=row["file_extra"] or {},
    )


def to_task(row: Any) -> Task:
    # by key on the row's mapping: a Row's attribute access costs about twice as much,
    # and a task's 31 fields are read on every create and lookup (issue 19)
    r = row._mapping
    return Task(
        id=r["id"],
        platform_id=r["platform_id"],
        account_id=r["account_id"],
        api_key_id=r["api_key_id"],
        model=r["model"],
        mode=r["mode"],
        status=TaskStatus(r["status"]),
        upstream_status=_upstream(r["upstream_status"]),
        upstream_task_id=r["upstream_task_id"],
        channel=r["channel"],
        request=r["request"],
        duration=r["duration"],
        resolution=r["resolution"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        finished_at=r["finished_at"],
        deadline_at=r["deadline_at"],
        error_code=r["error_code"],
        error_message=r["error_message"],
        error_reason=r["error_reason"],
        file=_file(r),
        callback_url=r["callback_url"],
        price=r["price"],
        poll_attempts=r["poll_attempts"],
        missing_polls=r["missing_polls"],
        copy_attempts=r["copy_attempts"],
        next_poll_at=r["next_poll_at"],
        upstream_callback=r["upstream_callback"],
        ratio=r["ratio"],
        usage=Usage.from_dict(r["usage"]) if r["usage"] else None,
    )


def to_event(row: Any) -> TaskEvent:
    return TaskEvent(
        seq=row.seq,
        status=TaskStatus(row.status),
        upstream_status=_upstream(row.upstream_status),
        created_at=row.created_at,
    )


NEW_ROW_COLUMNS = (
    "platform_id",
    "account_id",
    "api_key_id",
    "model",
    "mode",
    "status",
    "channel",
    "upstream_callback",
    "request",
    "duration",
    "resolution",
    "price",
    "callback_url",
    "ratio",
    "created_at",
    "updated_at",
    "deadline_at",
    "poll_attempts",
    "missing_polls",
    "event_seq",
    "file_copy_pending",
    "copy_attempts",
)
"""The columns ``new_row`` fills, in its order (``store/create_pg.py`` inserts them)."""


def new_row(new: NewTask, status: TaskStatus, now: datetime) -> dict[str, Any]:
    """The row of a task just created, in ``status`` (the lifecycle's first)."""
    return {
        "platform_id": new.platform_id,
        "account_id": new.account_id,
        "api_key_id": new.api_key_id,
        "model": new.model,
        "mode": new.mode,
        "status": status.value,
        "channel": new.channel,
        "upstream_callback": False,
        "request": new.request,
        "duration": new.duration,
        "resolution": new.resolution,
        "price": new.price,
        "callback_url": new.callback_url,
        "ratio": new.ratio,
        "created_at": now,
        "updated_at": now,
        "deadline_at": new.deadline_at,
        "poll_attempts": 0,
        "missing_polls": 0,
        "event_seq": 0,
        "file_copy_pending": False,
        "copy_attempts": 0,
    }


def file_values(file: VideoFile, now: datetime, *, copy_pending: bool) -> dict[str, Any]:
    """The columns a success writes for its file; ``copy_pending``: the gateway still
    wants its own copy (and has none yet)."""
    return {
        "file_id": file.file_id,
        "file_bytes": file.bytes,
        "file_width": file.width,
        "file_height": file.height,
        "file_name": file.filename,
        "file_upstream_url": file.upstream_url,
        "file_upstream_expires_at": file.upstream_url_expires_at,
        "file_created_at": file.created_at,
        "file_extra": dict(file.extra) or None,
        "file_copy_pending": copy_pending and file.storage_key is None,
        "next_copy_at": now,
        "file_storage_key": file.storage_key,
        "file_sha256": file.sha256,
    }
