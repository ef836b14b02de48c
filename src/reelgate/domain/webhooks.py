"""Signed callbacks to clients: Standard Webhooks (v1, HMAC-SHA256) and the retry schedule.

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the signature header
lists one ``v1,<base64>`` per active secret, so a rotation never breaks a receiver.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from reelgate.domain.signing import same
from reelgate.domain.tasks import Task, TaskStatus

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signature_header(secrets_: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(signature(s, msg_id, timestamp, body) for s in secrets_)


def verify(secret: str, msg_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """What a receiver does: any of the listed v1 signatures matches."""
    expected = signature(secret, msg_id, timestamp, body)
    return any(same(expected, sig) for sig in header.split())


# MiniMax's callbacks use lowercase statuses; an official receiver compares them so.
_CALLBACK_STATUS = {
    "Preparing": "preparing",
    "Queueing": "queueing",
    "Processing": "processing",
    "Success": "success",
    "Fail": "failed",
}


def callback_body(task: Task) -> dict[str, object]:
    """The query-shaped body MiniMax POSTs on a status change, plus the gateway's id."""
    body: dict[str, object] = {
        "task_id": task.upstream_task_id or task.platform_id,
        "platform_id": task.platform_id,
        "status": _CALLBACK_STATUS[task.minimax_status],
        "file_id": task.file.file_id if task.status is TaskStatus.SUCCEEDED and task.file else "",
        "base_resp": task.minimax_base_resp,  # the query's, as MiniMax's pushes carry
    }
    if task.status is TaskStatus.SUCCEEDED and task.file is not None:
        body["video_width"] = task.file.width
        body["video_height"] = task.file.height
    if task.status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
        body["error_message"] = task.failure_message
    return body


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """Exponential backoff with jitter over a window: 5 s, 10 s, 20 s ... capped at
    ``max_delay_s``, until ``window_s`` after the first attempt."""

    first_s: float = 5.0
    max_delay_s: float = 3600.0
    window_s: float = 86400.0
    jitter: float = 0.2

    def delay(self, attempts: int, retry_after: float | None, rng: random.Random) -> float:
        base = min(self.max_delay_s, self.first_s * 2 ** max(0, attempts - 1))
        base *= 1 + rng.uniform(-self.jitter, self.jitter)
        if retry_after is not None:  # the receiver said when; never sooner than that
            base = max(base, retry_after)
        return float(base)
