"""The pure parts of callbacks and webhooks: the body MiniMax's receivers read, the
Standard Webhooks signature (checked against a known vector), and the retry schedule."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from reelgate.domain.tasks import Task, TaskStatus, UpstreamStatus, VideoFile
from reelgate.domain.webhooks import (
    SECRET_PREFIX,
    RetrySchedule,
    callback_body,
    new_secret,
    signature,
    signature_header,
    verify,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
TASK = Task(
    id=1,
    platform_id="video_01",
    account_id=1,
    api_key_id=None,
    model="T2V-01",
    mode="t2v",
    status=TaskStatus.QUEUED,
    upstream_status=UpstreamStatus.QUEUEING,
    upstream_task_id="up-1",
    channel="ch",
    request={},
    duration=6,
    resolution="720P",
    created_at=NOW,
    updated_at=NOW,
    finished_at=None,
    deadline_at=NOW,
    error_code=None,
    error_message=None,
    error_reason=None,
    file=None,
)
FILE = VideoFile(file_id="f-9", width=1280, height=720)
OK = {"status_code": 0, "status_msg": "success"}


def test_the_body_of_a_running_task() -> None:
    assert callback_body(TASK) == {
        "task_id": "up-1",
        "platform_id": "video_01",
        "status": "queueing",
        "file_id": "",
        "base_resp": OK,
    }
    processing = replace(TASK, status=TaskStatus.RUNNING, upstream_status=UpstreamStatus.PROCESSING)
    assert callback_body(processing)["status"] == "processing"


def test_a_task_without_an_upstream_id_is_named_by_ours() -> None:
    body = callback_body(replace(TASK, upstream_task_id=None, upstream_status=None))
    assert (body["task_id"], body["status"]) == ("video_01", "preparing")


def test_the_body_of_a_success_carries_the_file() -> None:
    done = replace(TASK, status=TaskStatus.SUCCEEDED, file=FILE)
    assert callback_body(done) == {
        "task_id": "up-1",
        "platform_id": "video_01",
        "status": "success",
        "file_id": "f-9",
        "base_resp": OK,
        "video_width": 1280,
        "video_height": 720,
    }


def test_a_file_is_shown_only_with_a_success() -> None:
    # a file known on a task that is not (or not yet) a success is not announced
    running = replace(TASK, status=TaskStatus.RUNNING, file=FILE)
    body = callback_body(running)
    assert body["file_id"] == "" and "video_width" not in body and "video_height" not in body
    no_file = callback_body(replace(TASK, status=TaskStatus.SUCCEEDED))
    assert no_file["file_id"] == "" and "video_width" not in no_file


@pytest.mark.parametrize("status", [TaskStatus.FAILED, TaskStatus.CANCELLED])
def test_the_body_of_a_failure_says_why(status: TaskStatus) -> None:
    failed = replace(TASK, status=status, error_code=1026, error_message="sensitive content")
    body = callback_body(failed)
    assert body["status"] == "failed" and body["error_message"] == "sensitive content"
    assert body["base_resp"] == {"status_code": 1026, "status_msg": "sensitive content"}
    plain = callback_body(replace(TASK, status=status, error_code=None))
    assert plain["error_message"] == "the task failed" and plain["base_resp"] == OK
    assert "error_message" not in callback_body(TASK)


# -- signatures -----------------------------------------------------------------------

KEY = bytes(range(32))
SECRET = SECRET_PREFIX + base64.b64encode(KEY).decode()


def test_a_signature_is_standard_webhooks_v1() -> None:
    expected = hmac.new(KEY, b"msg_1.1700000000.{}", hashlib.sha256).digest()
    assert signature(SECRET, "msg_1", 1700000000, b"{}") == (
        "v1," + base64.b64encode(expected).decode()
    )
    # the prefix is optional on the secret, as in the Standard Webhooks libraries
    assert signature(base64.b64encode(KEY).decode(), "msg_1", 1700000000, b"{}") == signature(
        SECRET, "msg_1", 1700000000, b"{}"
    )


def test_the_header_lists_one_signature_per_secret() -> None:
    other = new_secret()
    header = signature_header([SECRET, other], "m", 5, b"body")
    assert header == f"{signature(SECRET, 'm', 5, b'body')} {signature(other, 'm', 5, b'body')}"
    assert verify(SECRET, "m", 5, b"body", header) and verify(other, "m", 5, b"body", header)
    assert not verify(SECRET, "m", 6, b"body", header)
    assert not verify(SECRET, "m", 5, b"body!", header)
    assert signature_header([], "m", 5, b"") == ""


def test_a_new_secret_is_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith(SECRET_PREFIX) and first != second
    assert len(base64.b64decode(first.removeprefix(SECRET_PREFIX))) == 32


# -- retries --------------------------------------------------------------------------


def test_retries_back_off_from_5_s_doubling_to_the_cap() -> None:
    schedule = RetrySchedule(jitter=0.0)
    rng = random.Random(1)
    delays = [schedule.delay(n, None, rng) for n in (0, 1, 2, 3, 4)]
    assert delays == [5.0, 5.0, 10.0, 20.0, 40.0]
    assert schedule.delay(12, None, rng) == 3600.0
    assert RetrySchedule(first_s=2.0, max_delay_s=7.0, jitter=0.0).delay(3, None, rng) == 7.0


def test_a_receivers_retry_after_is_a_minimum() -> None:
    schedule = RetrySchedule(jitter=0.0)
    rng = random.Random(1)
    assert schedule.delay(1, 30.0, rng) == 30.0
    assert schedule.delay(4, 30.0, rng) == 40.0  # our own wait is longer: ours
    assert isinstance(schedule.delay(1, 30, rng), float)


def test_retry_jitter_stays_within_its_fraction() -> None:
    schedule = RetrySchedule(jitter=0.2)
    rng = random.Random(7)
    delays = [schedule.delay(3, None, rng) for _ in range(400)]
    assert 16.0 <= min(delays) < 17.0 and 23.0 < max(delays) <= 24.0
