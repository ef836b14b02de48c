"""The sandbox's callback_url protocol against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from reelgate.sandbox.app import create_sandbox_app
from reelgate.sandbox.faults import FaultPlan
from reelgate.sandbox.pool import RenderPool
from reelgate.sandbox.service import Sandbox
from reelgate.sandbox.state import SandboxState
from reelgate.sandbox.timeline import timeline_for

KEY = "sandbox-key"
BODY = {"model": "T2V-01", "prompt": "a kite over a beach [Pan left]"}
QUERY_SHAPE = {"task_id", "status", "file_id", "base_resp"}


class Receiver:
    """A callback receiver: answers the challenge as told, records every push."""

    def __init__(self, mode: str = "echo", delay_s: float = 0.0) -> None:
        self.mode, self.delay_s = mode, delay_s
        self.challenges: list[dict[str, Any]] = []
        self.pushes: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if "challenge" in body:
                    receiver.challenges.append(body)
                    time.sleep(receiver.delay_s)
                    echoed = body["challenge"] if receiver.mode == "echo" else "not-it"
                    self._answer(200, {"challenge": echoed})
                else:
                    receiver.pushes.append(body)
                    self._answer(200, {"status": "success"})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the sandbox gave up waiting
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def statuses(self) -> list[str]:
        return [p["status"] for p in self.pushes]


@contextmanager
def receiver(mode: str = "echo", delay_s: float = 0.0) -> Iterator[Receiver]:
    rec = Receiver(mode, delay_s)
    rec.thread.start()
    try:
        yield rec
    finally:
        rec.server.shutdown()
        rec.server.server_close()
        rec.thread.join()


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def sandbox_at(
    directory: Path, *, allow_private: bool = True, clock: Clock | None = None, faults: str = ""
) -> AsyncIterator[tuple[Sandbox, httpx.AsyncClient]]:
    outbound = httpx.AsyncClient(trust_env=False)
    sandbox = Sandbox(
        state=SandboxState(directory),
        timeline=timeline_for("fast"),
        api_keys=[KEY],
        client=outbound,
        pool=RenderPool(1),
        allow_private_urls=allow_private,
        faults=FaultPlan.parse(faults),
        clock=clock or time.time,
    )
    app = create_sandbox_app(sandbox)
    await sandbox.start()
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://sandbox.test",
        headers={"Authorization": f"Bearer {KEY}"},
    )
    try:
        yield sandbox, http
    finally:
        await http.aclose()
        await sandbox.close()
        await outbound.aclose()


async def _until(check: Any, within_s: float = 20.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


async def test_echoed_challenge_creates_the_task_and_pushes_every_status(tmp_path: Path) -> None:
    with receiver("echo") as rec:
        async with sandbox_at(tmp_path) as (sandbox, http):
            resp = await http.post("/v1/video_generation", json={**BODY, "callback_url": rec.url})
            created = resp.json()
            assert created["base_resp"]["status_code"] == 0, created
            assert len(rec.challenges) == 1 and set(rec.challenges[0]) == {"challenge"}
            await _until(lambda: "success" in rec.statuses())
            query = (
                await http.get("/v1/query/video_generation", params={"task_id": created["task_id"]})
            ).json()

    assert rec.statuses() == ["preparing", "queueing", "processing", "success"]
    for push in rec.pushes[:3]:
        assert set(push) == QUERY_SHAPE
    # the success push carries what the query says of the video, its size included
    assert set(rec.pushes[-1]) == QUERY_SHAPE | {"video_width", "video_height"}
    for push in rec.pushes:
        assert push["task_id"] == created["task_id"]
        assert push["base_resp"] == {"status_code": 0, "status_msg": "success"}
    assert [p["file_id"] for p in rec.pushes[:3]] == ["", "", ""]
    assert rec.pushes[-1]["file_id"] == query["file_id"] and query["status"] == "Success"
    assert (rec.pushes[-1]["video_width"], rec.pushes[-1]["video_height"]) == (
        query["video_width"],
        query["video_height"],
    )
    assert sandbox.state.get(created["task_id"]).pushed == rec.statuses()  # type: ignore[union-attr]


async def test_a_task_failing_midway_pushes_failed_with_its_code(tmp_path: Path) -> None:
    with receiver("echo") as rec:
        async with sandbox_at(tmp_path, faults="fail_midway=1") as (_, http):
            resp = await http.post("/v1/video_generation", json={**BODY, "callback_url": rec.url})
            assert resp.json()["base_resp"]["status_code"] == 0
            await _until(lambda: "failed" in rec.statuses())
    assert rec.statuses() == ["preparing", "queueing", "processing", "failed"]
    assert rec.pushes[-1]["base_resp"] == {
        "status_code": 1027,
        "status_msg": "output new_sensitive",
    }


@pytest.mark.parametrize(
    ("mode", "delay_s", "reason"), [("wrong", 0.0, "echo"), ("echo", 3.4, "3 s")]
)
async def test_a_failed_challenge_refuses_the_create(
    tmp_path: Path, mode: str, delay_s: float, reason: str
) -> None:
    with receiver(mode, delay_s) as rec:
        async with sandbox_at(tmp_path) as (sandbox, http):
            started = time.monotonic()
            resp = await http.post("/v1/video_generation", json={**BODY, "callback_url": rec.url})
            took = time.monotonic() - started
            base = resp.json()["base_resp"]
            assert base["status_code"] == 2013
            assert base["status_msg"].startswith("invalid params, fail to check callback url")
            assert reason in base["status_msg"]
            assert "task_id" not in resp.json() and sandbox.state.all() == []
            assert len(rec.challenges) == 1 and rec.pushes == []
            assert took < 3.5


async def test_a_loopback_callback_is_refused_unless_private_urls_are_allowed(
    tmp_path: Path,
) -> None:
    with receiver("echo") as rec:
        async with sandbox_at(tmp_path, allow_private=False) as (sandbox, http):
            resp = await http.post("/v1/video_generation", json={**BODY, "callback_url": rec.url})
            base = resp.json()["base_resp"]
            assert base["status_code"] == 2013
            assert "fail to check callback url" in base["status_msg"]
            assert "private" in base["status_msg"]
            assert rec.challenges == [] and sandbox.state.all() == []


async def test_pushes_go_on_after_a_restart_without_repeats(tmp_path: Path) -> None:
    clock = Clock()
    with receiver("echo") as rec:
        async with sandbox_at(tmp_path, clock=clock) as (_, http):
            resp = await http.post("/v1/video_generation", json={**BODY, "callback_url": rec.url})
            task_id = resp.json()["task_id"]
            await _until(lambda: rec.statuses() == ["preparing"])
        clock.now += 30  # the sandbox was down while the task moved on
        async with sandbox_at(tmp_path, clock=clock) as (sandbox, _):
            await _until(lambda: "success" in rec.statuses())
            assert sandbox.state.get(task_id).rendered  # type: ignore[union-attr]
    assert rec.statuses() == ["preparing", "queueing", "processing", "success"]
    assert len(rec.challenges) == 1
