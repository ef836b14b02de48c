"""A sandbox task as MiniMax's v2 API shows it: the ``VideoTask`` of the query, of the
list's items and of the callback pushes (reference section 5).

The sandbox's timeline is v1's (Preparing, Queueing, Processing, Success or Fail); v2
names fewer statuses: both waiting steps are ``queued``, Processing is ``running``, and a
Fail is ``cancelled`` when a DELETE caused it (``SandboxTask.cancelled_at``).
"""

from __future__ import annotations

import math
from typing import Any

from reelgate.domain.tasks import UpstreamStatus
from reelgate.domain.video import Media, MediaKind
from reelgate.sandbox.faults import FaultKind
from reelgate.sandbox.state import SandboxTask
from reelgate.sandbox.timeline import Timeline

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
V2_STATUS = {
    UpstreamStatus.PREPARING: QUEUED,
    UpstreamStatus.QUEUEING: QUEUED,
    UpstreamStatus.PROCESSING: RUNNING,
    UpstreamStatus.SUCCESS: SUCCEEDED,
    UpstreamStatus.FAIL: FAILED,
}
# the task types v2 knows; the sandbox makes only generations (section 8: regeneration and
# Context-IR are not emulated)
TASK_TYPES = ("generation", "h3_context_ir", "regeneration")
# renderer's names of the catalog's v2 modes (a last frame alone is "lf2v" in the catalog)
RENDER_MODES = {"t2v": "t2v", "i2v": "i2v", "lf2v": "l2v", "fl2v": "fl2v", "r2v": "r2v"}


def status_name(task: SandboxTask, status: UpstreamStatus) -> str:
    if status is UpstreamStatus.FAIL and task.cancelled_at:
        return CANCELLED
    return V2_STATUS[status]


def changed_at(task: SandboxTask, status: UpstreamStatus, timeline: Timeline) -> float:
    """When the task reached ``status`` (its ``updated_at`` while it stays there)."""
    start = task.created_at
    if status in (UpstreamStatus.PREPARING, UpstreamStatus.QUEUEING):
        return start
    if status is UpstreamStatus.PROCESSING:
        return start + timeline.processing_at_s
    if status is UpstreamStatus.SUCCESS:
        return max(start + timeline.total_s, task.rendered_at)
    if task.cancelled_at:
        return task.cancelled_at
    if FaultKind.FAIL_MIDWAY in task.faults:
        return start + timeline.midway_s
    return max(start, task.rendered_at)  # a render that failed, when it did


def task_json(
    task: SandboxTask, status: UpstreamStatus, timeline: Timeline, url: str | None
) -> dict[str, Any]:
    """The VideoTask at ``status``; ``url`` is the video's signed URL, on success only."""
    name = status_name(task, status)
    # in the order of MiniMax's own examples (reference section 5)
    out: dict[str, Any] = {"id": task.task_id, "model": task.model, "status": name}
    if name == FAILED:
        out["error"] = {"code": str(task.fail_code), "message": task.fail_message}
    out["created_at"] = int(task.created_at)
    out["updated_at"] = int(changed_at(task, status, timeline))
    if name == SUCCEEDED and url is not None:
        out["content"] = {"url": url}
    out.update(
        resolution=task.resolution,
        duration=task.duration,
        usage=dict(task.usage) if name == SUCCEEDED else {},
        ratio=task.ratio,
        task_type="generation",
        modality="video",
    )
    return out


def usage(media: list[Media], duration: int) -> dict[str, int]:
    """What a success reports (reference section 5): output seconds as asked (the clip
    runs a little longer, not billed), reference video seconds rounded up, the images of
    every role, and the reference audio's seconds (rounded) only when there is audio."""
    video_s = sum(m.seconds or 0.0 for m in media if m.kind is MediaKind.VIDEO)
    input_s = math.ceil(round(video_s, 3))  # a probe's 6.0000001 s is 6
    out = {
        "total_seconds": input_s + duration,
        "input_seconds": input_s,
        "output_seconds": duration,
        "input_image_count": sum(m.kind is MediaKind.IMAGE for m in media),
    }
    audio = [m.seconds or 0.0 for m in media if m.kind is MediaKind.AUDIO]
    if audio:
        out["input_audio_seconds"] = round(sum(audio))
    return out
