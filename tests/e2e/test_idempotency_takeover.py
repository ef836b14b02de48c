"""An Idempotency-Key whose process died mid-create is taken over once its lease passes,
and the dead attempt's task is settled and refunded by the sweep (issue 13, item 8)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import create_async_engine

from reelgate.store import tables
from tests.support import ADMIN_TOKEN, API_KEY, STUB_VIDEOS, Server, migrated_database

T2V = {"model": "T2V-01", "prompt": "a kite over the dunes"}
LEASE_S = 2.0


def tasks_by_status(url: str) -> dict[str, str]:
    async def run() -> dict[str, str]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(select(tables.tasks.c.platform_id, tables.tasks.c.status))
                return {row.platform_id: row.status for row in rows}
        finally:
            await engine.dispose()

    return asyncio.run(run())


def age_submitting_tasks(url: str) -> None:
    """Make the dead process's submit look as old as it would be after the submit grace
    (a minute and more), instead of waiting for it."""

    async def run() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    update(tables.tasks)
                    .where(tables.tasks.c.status == "submitting")
                    .values(created_at=datetime.now(UTC) - timedelta(hours=1))
                )
        finally:
            await engine.dispose()

    asyncio.run(run())


def create(server: Server, key: str, timeout: float = 30) -> httpx.Response:
    return httpx.post(
        server.url + "/minimaxi/v1/video_generation",
        json=T2V,
        headers={"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": key},
        trust_env=False,
        timeout=timeout,
    )


def balance(server: Server) -> int:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    accounts = httpx.get(
        server.url + "/admin/v1/accounts", headers=headers, trust_env=False
    ).json()["data"]
    (default,) = [a for a in accounts if a["name"] == "default"]
    return int(default["balance"])


def test_a_key_in_flight_when_the_process_died_is_taken_over(tmp_path: Path) -> None:
    data_dir = tmp_path / "gateway"
    common = {
        "REELGATE_IDEMPOTENCY_LEASE_S": str(LEASE_S),
        "REELGATE_SWEEP_INTERVAL_S": "0.2",
        **STUB_VIDEOS,
    }
    with migrated_database(data_dir) as url:
        # every sandbox call answers a minute late: the create is in flight when we kill
        slow = {"REELGATE_SANDBOX_FAULTS": "slow=1", "REELGATE_SANDBOX_SLOW_S": "60"}
        first = Server(data_dir, url, env={**common, **slow}).start()
        start_balance = balance(first)
        key = str(uuid.uuid4())
        outcome: list[Any] = []

        def send() -> None:
            try:
                outcome.append(create(first, key, timeout=90))
            except httpx.HTTPError as exc:
                outcome.append(exc)

        sender = threading.Thread(target=send)
        sender.start()
        deadline = time.monotonic() + 20
        while "submitting" not in tasks_by_status(url).values():  # stored, upstream called
            assert time.monotonic() < deadline, first.log()
            time.sleep(0.05)
        first.kill()
        sender.join(10)
        assert len(outcome) == 1 and isinstance(outcome[0], httpx.HTTPError)
        (dead,) = tasks_by_status(url)

        second = Server(data_dir, url, env=common).start()
        try:
            deadline = time.monotonic() + LEASE_S + 15
            while True:
                answer = create(second, key).json()
                if "in progress" not in answer["base_resp"]["status_msg"]:
                    break
                assert time.monotonic() < deadline, f"the key stayed in progress: {answer}"
                time.sleep(0.2)
            assert answer["base_resp"]["status_code"] == 0, answer
            assert answer["platform_id"] != dead
            replay = create(second, key)
            assert replay.json() == answer
            assert replay.headers.get("idempotent-replayed") == "true"

            # the dead attempt's task stays 'submitting' until the sweep's grace has passed
            # (submit_deadline_s + upstream_timeout_s + 60 s): then it fails, refunded
            assert tasks_by_status(url)[dead] == "submitting"
            age_submitting_tasks(url)
            deadline = time.monotonic() + 15
            while tasks_by_status(url)[dead] == "submitting":
                assert time.monotonic() < deadline, second.log()
                time.sleep(0.1)
            assert tasks_by_status(url)[dead] == "failed"
            headers = {"Authorization": f"Bearer {API_KEY}"}
            dead_task = httpx.get(
                f"{second.url}/v1/tasks/{dead}", headers=headers, trust_env=False
            ).json()
            assert dead_task["error"]["reason"] == "interrupted"
            new_task = httpx.get(
                f"{second.url}/v1/tasks/{answer['platform_id']}", headers=headers, trust_env=False
            ).json()
            assert balance(second) == start_balance - new_task["price"]  # charged once
        finally:
            second.stop()


def test_a_live_request_renews_its_lease_and_is_never_taken_over(tmp_path: Path) -> None:
    """The create takes four leases (a slow upstream); retries meanwhile stay 'in progress'
    because its owner renews the lease, so the create runs once."""
    data_dir = tmp_path / "gateway"
    env = {
        "REELGATE_IDEMPOTENCY_LEASE_S": "0.6",
        "REELGATE_SANDBOX_FAULTS": "slow=1",
        "REELGATE_SANDBOX_SLOW_S": "2.4",
        **STUB_VIDEOS,
    }
    with migrated_database(data_dir) as url:
        server = Server(data_dir, url, env=env).start()
        try:
            key = str(uuid.uuid4())
            outcome: list[httpx.Response] = []
            sender = threading.Thread(target=lambda: outcome.append(create(server, key)))
            sender.start()
            while not tasks_by_status(url):  # claimed, stored, the upstream called
                assert sender.is_alive(), outcome
                time.sleep(0.05)
            retries = []
            while sender.is_alive():
                retries.append(create(server, key).json())
                time.sleep(0.2)
            sender.join()
            first = outcome[0].json()
            assert first["base_resp"]["status_code"] == 0, first
            assert list(tasks_by_status(url)) == [first["platform_id"]]  # created once
            assert len(retries) >= 5
            for answer in retries[:-1]:  # the last may have come after the first finished
                assert "in progress" in answer["base_resp"]["status_msg"], answer
        finally:
            server.stop()
