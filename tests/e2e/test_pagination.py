"""Paging through 500 tasks over HTTP while another writer keeps inserting."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import httpx

from reelgate.domain.ids import new_platform_id
from reelgate.store import database
from reelgate.store.tasks import NewTask, TaskStore
from tests.support import API_KEY, Server


def insert_tasks(url: str, count: int, model: str) -> list[str]:
    async def run() -> list[str]:
        engine = database.create_engine(url)
        store = TaskStore(engine)
        ids = []
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
                ids.append(task.platform_id)
        finally:
            await engine.dispose()
        return ids

    return asyncio.run(run())


def test_every_task_once_with_no_gaps(server: Server) -> None:
    existing = set(insert_tasks(server.database_url, 500, "T2V-01-Director"))
    late: list[str] = []
    writer = threading.Thread(
        target=lambda: late.extend(insert_tasks(server.database_url, 150, "T2V-01-Director"))
    )
    seen: list[str] = []
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=server.url, headers=headers, trust_env=False) as api:
        params: dict[str, str | int] = {"model": "T2V-01-Director", "limit": 37}
        writer.start()
        while True:
            page = api.get("/v1/tasks", params=params).json()
            seen += [t["platform_id"] for t in page["data"]]
            if not page["has_more"]:
                break
            params["cursor"] = page["next_cursor"]
    writer.join()
    assert len(seen) == len(set(seen)), "a task came twice"
    assert existing <= set(seen), "a task was skipped"
    # what the writer added while we paged is either seen or newer than the first page
    assert set(seen) - existing <= set(late)
