"""A task as the console shows it: its ids, status, money, reason and video link."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reelgate.console.reasons import plain_reason
from reelgate.domain.tasks import Task, TaskStatus

if TYPE_CHECKING:
    from reelgate.gateway import Gateway


@dataclass(frozen=True, slots=True)
class TaskView:
    task: Task
    status: str  # the platform API's public status
    charged: int
    reason: str | None
    video_url: str | None

    @property
    def live(self) -> bool:
        return not self.task.status.terminal

    @property
    def cancellable(self) -> bool:
        return not self.task.status.terminal


def relative(url: str, base_url: str) -> str:
    """The gateway's own signed link as a path, so that the page plays it from whatever
    address the browser reached the console at (behind a proxy, on another port)."""
    base = base_url.rstrip("/")
    return url[len(base) :] if url.startswith(base + "/") else url


async def task_view(gw: Gateway, task: Task) -> TaskView:
    url = None
    if task.status is TaskStatus.SUCCEEDED and task.file is not None:
        file = await gw.file_service.file_object(task)  # a signed link, issued afresh
        url = relative(file.download_url, gw.settings.base_url)
    return TaskView(
        task=task,
        status=task.status.public,
        charged=task.price if task.status is TaskStatus.SUCCEEDED else 0,
        reason=plain_reason(task),
        video_url=url,
    )
