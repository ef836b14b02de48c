"""A task as OpenAI's ``Video``, and how long a polling client should wait.

Any task of the account reads as a Video, whichever surface made it: one task, three ways
to reach it (MiniMax's wire, ``/v1/tasks``, ``/v1/videos``).
"""

from __future__ import annotations

import math
from datetime import datetime

from reelgate.domain import upstream_codes
from reelgate.domain.catalog import MODELS, Api
from reelgate.domain.tasks import Task, TaskStatus
from reelgate.surfaces.openai.schemas import Video, VideoError
from reelgate.surfaces.openai.sizes import planned_size
from reelgate.surfaces.openai.wire import CANCELLED_CODE, STATUS

PROGRESS = {"queued": 0, "in_progress": 50, "completed": 100, "failed": 0}
# The SDK's own interval when no hint comes; polling faster learns nothing sooner.
MIN_POLL_AFTER_MS = 1000
# A poll's round trip: the hint points just past the tracker's next poll of the task.
POLL_MARGIN_MS = 250


def video(task: Task) -> Video:
    status = STATUS[task.status]
    return Video(
        id=task.platform_id,
        model=task.model,
        status=status,
        progress=PROGRESS[status],
        created_at=int(task.created_at.timestamp()),
        completed_at=int(task.finished_at.timestamp()) if task.finished_at else None,
        expires_at=None,
        prompt=task.request.get("prompt"),
        seconds=str(task.duration),
        size=size_of(task),
        error=error_of(task),
    )


def size_of(task: Task) -> str:
    """The frame as made, once known; as the request plans it until then."""
    if task.file is not None and task.file.width and task.file.height:
        return f"{task.file.width}x{task.file.height}"
    model = MODELS.get(task.model)
    api = model.api if model is not None else Api.MINIMAX_V1
    return planned_size(api, task.resolution, task.ratio)


def error_of(task: Task) -> VideoError | None:
    if task.status is TaskStatus.CANCELLED:
        return VideoError(code=CANCELLED_CODE, message=task.failure_message)
    if task.status is not TaskStatus.FAILED:
        return None
    if task.error_code in upstream_codes.RIDES_WITH_FAIL:  # MiniMax's content refusals
        code = "moderation_blocked"
    else:
        code = task.error_reason or "upstream_failed"
    return VideoError(code=code, message=task.failure_message)


def poll_after_ms(task: Task, now: datetime, longest_s: float) -> int | None:
    """``openai-poll-after-ms`` for an unfinished task: until the tracker next polls it
    (plus a round trip), at least :data:`MIN_POLL_AFTER_MS` and at most the tracker's
    longest interval (``longest_s``); None once it is finished (nothing more to wait for).

    The SDK's ``poll()`` keeps the first hint it reads for the rest of its loop.
    """
    if task.status.terminal:
        return None
    wait_ms = 0.0
    if task.next_poll_at is not None:
        wait_ms = (task.next_poll_at - now).total_seconds() * 1000 + POLL_MARGIN_MS
    longest_ms = max(MIN_POLL_AFTER_MS, math.ceil(longest_s * 1000))
    return min(longest_ms, max(MIN_POLL_AFTER_MS, math.ceil(wait_ms)))
