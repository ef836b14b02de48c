"""Paging through 500 tasks while another writer (an engine of its own) keeps inserting."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from reelgate.domain.ids import new_platform_id
from reelgate.store import database
from reelgate.store.tasks import NewTask, TaskStore
from tests.inprocess.harness import InProcess

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def insert_tasks(url: str, count: int, model: str, into: list[str]) -> None:
    engine = database.create_engine(url)
    store = TaskStore(engine)
    try:
        for _ in range(count):
            now = datetime.now(UTC)
            task = await store.insert(
                NewTask(
                    platform_id=new_platform_id(),
                    account_id=1,
                    api_key_id=None,
                    model=model,
                    mode="t2v",
                    channel="sandbox",
                    request={},
                    duration=6,
                    resolution="720P",
                    price=0,
                    callback_url=None,
                    deadline_at=now + timedelta(hours=2),
                ),
                now,
            )
            into.append(task.platform_id)
    finally:
        await engine.dispose()


async def test_every_task_once_with_no_gaps(gateway: InProcess) -> None:
    first: list[str] = []
    await insert_tasks(gateway.database_url, 500, "T2V-01-Director", first)
    existing = set(first)
    late: list[str] = []
    seen: list[str] = []
    async with gateway.client() as api:
        params: dict[str, str | int] = {"model": "T2V-01-Director", "limit": 37}
        writer = asyncio.create_task(
            insert_tasks(gateway.database_url, 150, "T2V-01-Director", late)
        )
        while True:
            page = (await api.get("/v1/tasks", params=params)).json()
            seen += [t["platform_id"] for t in page["data"]]
            if not page["has_more"]:
                break
            params["cursor"] = page["next_cursor"]
    await writer
    assert len(seen) == len(set(seen)), "a task came twice"
    assert existing <= set(seen), "a task was skipped"
    # what the writer added while we paged is either seen or newer than the first page
    assert set(seen) - existing <= set(late)
