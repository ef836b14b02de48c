"""Why a task ended without a video, in plain words (the code and the upstream's own
message are shown next to it, for support)."""

from __future__ import annotations

from reelgate.domain.tasks import FailureReason, Task, TaskStatus

REFUNDED = "Its price was refunded."

_BY_CODE = {
    1002: "The upstream was busy (rate limited) and refused the request.",
    1004: "The upstream did not accept the gateway's credentials.",
    1008: "The upstream account behind this gateway has no balance left.",
    1026: "The upstream's content filter refused the prompt or an image.",
    1027: "The upstream's content filter refused the finished video.",
    2013: "The upstream found a parameter it does not accept.",
}

_BY_REASON = {
    FailureReason.UPSTREAM_FAILED: "The upstream could not make this video.",
    FailureReason.UPSTREAM_REFUSED: "The upstream refused the request.",
    FailureReason.DEADLINE_EXCEEDED: "It did not finish before its deadline.",
    FailureReason.CANCELLED: "It was cancelled before it finished.",
    FailureReason.LOST: "The upstream lost track of it.",
    FailureReason.INTERRUPTED: "The gateway stopped while sending it upstream.",
}


def plain_reason(task: Task) -> str | None:
    """None for a task that has not failed or been cancelled."""
    if task.status not in (TaskStatus.FAILED, TaskStatus.CANCELLED):
        return None
    if task.error_code in _BY_CODE:
        text = _BY_CODE[task.error_code]
    else:
        try:
            text = _BY_REASON[FailureReason(task.error_reason or "")]
        except ValueError:
            text = "It failed."
    return f"{text} {REFUNDED}"
