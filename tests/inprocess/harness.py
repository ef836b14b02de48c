"""The gateway in this process: the app built by ``create_app`` on a fresh store, with a
scripted fake upstream (``reelgate.providers.fake``) for its channel, the sandbox not
mounted and no worker loop, driven over ``httpx.ASGITransport`` with its lifespan run.

Tests move tasks on by cueing the fake upstream and running one tracker round
(``InProcess.track``): nothing sleeps, nothing waits on another process. The upstream's
``FakeClock`` is the gateway's time: the tracker's (tasks due, deadlines) and, read as
seconds, the channel router's (cool-downs, budgets) and the local rate windows', so a test
lets a cool-down or a budget window pass with ``gateway.upstream.clock.advance(s)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from reelgate.app import create_app
from reelgate.gateway import Gateway
from reelgate.providers.fake import FakeUpstream
from reelgate.settings import Settings
from tests.support import ADMIN_TOKEN, API_KEY

BASE_URL = "http://gateway.test"
POLL_MAX_S = 1.0
# One channel named as the subprocess tests' implicit one, reaching the fake upstream.
CHANNELS = """\
[[channels]]
name = "sandbox"
kind = "sandbox"
base_url = "http://upstream.invalid"
api_key = "fake-upstream-key"
"""


@dataclass
class InProcess:
    app: FastAPI
    gw: Gateway
    upstream: FakeUpstream
    database_url: str

    def client(self, key: str | None = API_KEY, path: str = "") -> httpx.AsyncClient:
        """A client of the app (``path``: a base such as ``/minimaxi`` or ``/admin/v1``)."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url=BASE_URL + path,
            headers=headers,
            timeout=30,
        )

    def admin(self) -> httpx.AsyncClient:
        return self.client(ADMIN_TOKEN, "/admin/v1")

    async def track(self) -> int:
        """Let the longest poll interval pass and run one tracker round: every unfinished
        task is polled once, as the worker would. Returns how many were polled."""
        clock = self.upstream.clock
        # never behind the real time the API stamps tasks with
        due = max(clock.now(), datetime.now(UTC)) + timedelta(seconds=POLL_MAX_S + 1)
        clock.advance((due - clock.now()).total_seconds())
        return await self.gw.tracker.poll_due()

    async def finish(self, *task_ids: str) -> None:
        """Cue the upstream to finish these tasks (by their upstream ids) and record it."""
        for task_id in task_ids:
            self.upstream.succeed(task_id)
        await self.track()

    async def count_tasks(self) -> int:
        """Rows in the tasks table, read straight from the store."""
        async with self.gw.engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM tasks"))).scalar_one())


def settings_for(data_dir: Path, database_url: str, **overrides: Any) -> Settings:
    channels = data_dir / "channels.toml"
    data_dir.mkdir(parents=True, exist_ok=True)
    channels.write_text(CHANNELS)
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "admin_token": ADMIN_TOKEN,
        "bootstrap_api_key": API_KEY,
        "sandbox_enabled": False,
        "channels_file": channels,
        "auto_migrate": True,  # the API without a worker would only check the schema
        "poll_initial_s": 0.3,  # as the subprocess tests' servers poll
        "poll_max_s": POLL_MAX_S,
        "redis_url": None,
        **overrides,
    }
    return Settings(**values)


@contextlib.asynccontextmanager
async def in_process(
    data_dir: Path, database_url: str, upstream: FakeUpstream | None = None, **overrides: Any
) -> AsyncIterator[InProcess]:
    """The app with its lifespan running (the store opened, migrated and bootstrapped)."""
    upstream = upstream or FakeUpstream()
    settings = settings_for(data_dir, database_url, **overrides)
    app = create_app(
        settings, worker=False, announce=None, providers=upstream, clock=upstream.clock.now
    )
    async with app.router.lifespan_context(app):
        yield InProcess(app, app.state.gateway, upstream, database_url)
