"""Callbacks to clients: MiniMax's challenge, Standard Webhooks signatures (v1,
HMAC-SHA256) and the retry schedule.

The challenge is written once, here, for the gateway (services/callbacks.py) and the
sandbox (sandbox/callbacks.py): POST ``{"challenge": <value>}``; the receiver must answer
HTTP 200 with the same value as JSON within 3 seconds, or the create fails with 2013.

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the signature header
lists one ``v1,<base64>`` per active secret, so a rotation never breaks a receiver.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from reelgate.domain.signing import same
from reelgate.domain.task_views import is_v2, v2_task
from reelgate.domain.tasks import Task, TaskStatus

SECRET_PREFIX = "whsec_"

# -- the challenge ----------------------------------------------------------------------

CHALLENGE_TIMEOUT_S = 3.0
CHECK_FAILED = "invalid params, fail to check callback url"
ANSWER_WITH = 'answer with HTTP 200 and the JSON {"challenge": <value>}'
CHALLENGE_HEADERS = {"content-type": "application/json"}


def new_challenge() -> str:
    return secrets.token_urlsafe(24)


def challenge_body(value: str) -> bytes:
    return json.dumps({"challenge": value}, separators=(",", ":")).encode()


def check_challenge_answer(status: int, body: bytes, value: str) -> str | None:
    """Why a receiver's answer to the challenge ``value`` fails it; None if it passes."""
    if status != 200:
        return f"{ANSWER_WITH} (it answered HTTP {status})"
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to parse
        return f"{ANSWER_WITH} (the answer is not JSON)"
    if not isinstance(answer, dict):
        return f"{ANSWER_WITH} (the answer is not a JSON object)"
    if answer.get("challenge") != value:
        return f"{ANSWER_WITH} (the answer does not echo the challenge)"
    return None


def no_answer(timeout_s: float) -> str:
    """The reason when the receiver did not answer in time."""
    return f"no answer within {timeout_s:g} seconds"


def challenge_failed(reason: str) -> str:
    """The message of a create refused because its callback URL failed the challenge;
    ``reason`` may be a refusal of the URL guard, whose own prefix is dropped."""
    return f"{CHECK_FAILED}: {reason.removeprefix('invalid params, ')}"


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
    """The query-shaped body MiniMax POSTs on a status change, plus the gateway's id: v1's,
    or v2's ``{"task": {...}}`` for a v2 model's task. A v2 body carries no
    ``content.url``: a delivery may be retried for hours, past any signed URL's life;
    the receiver queries the task for a fresh one."""
    if is_v2(task):
        return {"task": v2_task(task)}
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
