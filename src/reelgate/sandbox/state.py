"""The sandbox's own state on disk, apart from the gateway's: one JSON file per task.

The sandbox keeps working across restarts the way a real service would: task records,
their inputs and rendered videos live under its data directory.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


# Ids go out as JSON numbers (file_id) that JavaScript and jq read as doubles: every one
# must be below 2**53 to stay exact there, as MiniMax's own 15-digit ids are.
MAX_ID = 2**53 - 1
_last_id = 0
_id_lock = threading.Lock()


def new_numeric_id() -> str:
    """A MiniMax-looking id: a decimal string below 2**53, increasing with time.

    Milliseconds times 1000 plus a random part (16 digits, below 2**53 until the year
    2255), and always above the last one this process made, so that ids made in the same
    millisecond never collide here.
    """
    global _last_id
    with _id_lock:
        value = max(time.time_ns() // 1_000_000 * 1000 + secrets.randbelow(1000), _last_id + 1)
        _last_id = value
    assert value <= MAX_ID
    return str(value)


V2_ID_DIGITS = 15  # MiniMax's v2 task ids, e.g. "424010985738629"
_last_v2_id = 0


def new_v2_task_id() -> str:
    """A v2 task id: 15 decimal digits, increasing with time (milliseconds times 100 plus a
    random part, 15 digits from 2001 until the year 2286), never one this process made.
    One digit shorter than v1's ids, so the two never collide."""
    global _last_v2_id
    with _id_lock:
        value = max(time.time_ns() // 1_000_000 * 100 + secrets.randbelow(100), _last_v2_id + 1)
        _last_v2_id = value
    assert len(str(value)) == V2_ID_DIGITS
    return str(value)


@dataclass(slots=True)
class SandboxTask:
    task_id: str
    account: str
    model: str
    mode: str
    prompt: str
    duration: int
    resolution: str
    width: int
    height: int
    created_at: float
    file_id: str
    inputs: dict[str, str] = field(default_factory=dict)  # role -> file name under inputs/
    callback_url: str | None = None
    rendered: bool = False
    rendered_at: float = 0.0
    bytes: int = 0
    fail_code: int = 0
    fail_message: str = ""
    faults: list[str] = field(default_factory=list)  # injected faults decided at create
    pushed: list[str] = field(default_factory=list)  # callback statuses sent (or given up)
    downloads: int = 0  # download URL hits, so that an injected 404 hits only the first
    extra: dict[str, Any] = field(default_factory=dict)
    # MiniMax v2 (H3) tasks; records written before v2 existed read these defaults
    api: str = "v1"  # the API that made it, and the only one that shows it
    ratio: str = ""  # v2: the ratio rendered (what the task echoes: never "adaptive")
    base_url: str = ""  # v2: where the create came in, for content.url in callback pushes
    usage: dict[str, int] = field(default_factory=dict)  # v2: what a success reports
    cancelled_at: float = 0.0  # v2: when a DELETE cancelled it, while it was queued


class SandboxState:
    """Task records in memory, written through to ``<dir>/tasks/<task_id>.json``.

    The files are written by one background thread, in the order of the saves, so that
    the event loop never waits for the disk (at a thousand tasks in flight the writes
    took a fifth of the sandbox's loop); ``close`` waits for them.
    """

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.tasks_dir = directory / "tasks"
        self.files_dir = directory / "files"
        self.inputs_dir = directory / "inputs"
        for d in (self.tasks_dir, self.files_dir, self.inputs_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._tasks: dict[str, SandboxTask] = {}
        self._by_file: dict[str, str] = {}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-state")
        for path in sorted(self.tasks_dir.glob("*.json")):
            task = SandboxTask(**json.loads(path.read_text()))
            self._index(task)

    def _index(self, task: SandboxTask) -> None:
        self._tasks[task.task_id] = task
        self._by_file[task.file_id] = task.task_id

    def secret(self) -> bytes:
        """The key that signs this sandbox's download URLs, made once."""
        path = self.dir / "secret"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(secrets.token_bytes(32))
            os.replace(tmp, path)
        return path.read_bytes()

    def save(self, task: SandboxTask, *, new: bool = False) -> None:
        """Keep the task as it is now; its file is written soon after (see the class).

        ``new``: the task's first record, written before this returns, so that a task
        whose id was answered survives the process being killed the next moment (no
        write of it can be queued yet, so the order holds).
        """
        if not new and task.task_id not in self._tasks:
            return  # deleted (v2's DELETE) while a push or a download still held it
        self._index(task)
        data = json.dumps(asdict(task))  # now, while the record cannot change under us
        if new:
            self._write(task.task_id, data)
            return
        self._writer.submit(self._write, task.task_id, data).add_done_callback(_log_failure)

    def delete(self, task: SandboxTask) -> None:
        """Forget the task: its record, inputs and video. The files go on the writer
        thread, after the saves already queued, so that none of them writes it back."""
        self._tasks.pop(task.task_id, None)
        self._by_file.pop(task.file_id, None)
        paths = [
            self.tasks_dir / f"{task.task_id}.json",
            self.video_path(task),
            *(self.inputs_dir / name for name in task.inputs.values()),
        ]
        self._writer.submit(_unlink, paths).add_done_callback(_log_failure)

    def _write(self, task_id: str, data: str) -> None:
        path = self.tasks_dir / f"{task_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(data)
        os.replace(tmp, path)  # atomic: a crash never leaves half a record

    def close(self) -> None:
        """Wait until every save so far is on disk; no saves after this."""
        self._writer.shutdown(wait=True)

    def get(self, task_id: str) -> SandboxTask | None:
        return self._tasks.get(task_id)

    def by_file(self, file_id: str) -> SandboxTask | None:
        task_id = self._by_file.get(file_id)
        return self._tasks.get(task_id) if task_id else None

    def all(self) -> list[SandboxTask]:
        return list(self._tasks.values())

    def video_path(self, task: SandboxTask) -> Path:
        return self.files_dir / f"{task.file_id}.mp4"

    def write_input(self, task_id: str, role: str, data: bytes) -> str:
        name = f"{task_id}-{role}.img"
        (self.inputs_dir / name).write_bytes(data)
        return name

    def read_input(self, name: str) -> bytes:
        return (self.inputs_dir / name).read_bytes()


def _unlink(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _log_failure(done: Future[None]) -> None:
    exc = done.exception()
    if exc is not None:
        log.error("writing a sandbox task record failed", exc_info=exc)
