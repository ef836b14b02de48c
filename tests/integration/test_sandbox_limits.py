"""The sandbox's keys, request limits, expiring download URLs and control endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from reelgate.sandbox.app import create_sandbox_app
from reelgate.sandbox.pool import RenderPool
from reelgate.sandbox.ratelimit import RateLimiter
from reelgate.sandbox.service import Sandbox
from reelgate.sandbox.state import SandboxState
from reelgate.sandbox.timeline import timeline_for

KEY, OTHER = "sandbox-key", "second-key"
BODY = {"model": "T2V-01", "prompt": "snow on a pine forest"}


class Clock:
    def __init__(self, now: float = 1_900_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _sandbox(directory: Path, client: httpx.AsyncClient, **kwargs: Any) -> Sandbox:
    return Sandbox(
        state=SandboxState(directory),
        timeline=timeline_for("fast"),
        api_keys=[KEY, OTHER],
        client=client,
        pool=RenderPool(1),
        **kwargs,
    )


@asynccontextmanager
async def running(
    directory: Path, **kwargs: Any
) -> AsyncIterator[tuple[Sandbox, httpx.AsyncClient]]:
    outbound = httpx.AsyncClient(trust_env=False)
    sandbox = _sandbox(directory, outbound, **kwargs)
    app = create_sandbox_app(sandbox)
    await sandbox.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sb.test")
    try:
        yield sandbox, http
    finally:
        await http.aclose()
        await sandbox.close()
        await outbound.aclose()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def base(resp: httpx.Response) -> tuple[int, str]:
    assert resp.status_code == 200, resp.text
    assert resp.headers.get("trace-id")
    b = resp.json()["base_resp"]
    return b["status_code"], b["status_msg"]


CALLS = [
    ("POST", "/v1/video_generation"),
    ("GET", "/v1/query/video_generation?task_id=1"),
    ("GET", "/v1/files/retrieve?file_id=1"),
    ("GET", "/v1/files/retrieve_content?file_id=1"),
    ("GET", "/_control/faults"),
    ("PUT", "/_control/faults"),
    ("GET", "/_control/requests?since=0"),
]


@pytest.mark.parametrize(
    ("headers", "code", "fragment"),
    [
        ({}, 1004, "Bearer <API key>"),
        ({"Authorization": "Basic c2FuZGJveA=="}, 1004, "Bearer <API key>"),
        ({"Authorization": "Bearer "}, 1004, "Bearer <API key>"),
        ({"Authorization": "Bearer sk-unknown"}, 2049, "invalid api key"),
    ],
)
async def test_every_endpoint_needs_a_sandbox_key(
    tmp_path: Path, headers: dict[str, str], code: int, fragment: str
) -> None:
    async with running(tmp_path) as (_, http):
        for method, path in CALLS:
            resp = await http.request(method, path, headers=headers, json=BODY)
            got, message = base(resp)
            # an unknown key: 2049 on create (and control), 1004 on query and retrieve
            expected = (
                1004 if code == 2049 and path.startswith(("/v1/query", "/v1/files")) else code
            )
            assert (got, fragment in message) == (expected, True), (path, message)


async def test_each_key_is_its_own_account(tmp_path: Path) -> None:
    async with running(tmp_path) as (_, http):
        task_id = (await http.post("/v1/video_generation", json=BODY, headers=auth(KEY))).json()[
            "task_id"
        ]
        mine = await http.get("/v1/query/video_generation?task_id=" + task_id, headers=auth(KEY))
        assert mine.json()["task_id"] == task_id
        theirs = await http.get(
            "/v1/query/video_generation?task_id=" + task_id, headers=auth(OTHER)
        )
        assert base(theirs) == (2013, "invalid params, task not found")


async def test_rpm_limit_per_account(tmp_path: Path) -> None:
    async with running(tmp_path, rpm=5) as (sandbox, http):
        clock = Clock(0.0)
        sandbox.limiter = RateLimiter(5, clock=clock)
        created = (await http.post("/v1/video_generation", json=BODY, headers=auth(KEY))).json()
        assert created["base_resp"]["status_code"] == 0
        task_id = created["task_id"]
        for path in (
            f"/v1/query/video_generation?task_id={task_id}",
            f"/v1/query/video_generation?task_id={task_id}",
            "/v1/files/retrieve?file_id=1",
            "/v1/files/retrieve_content?file_id=1",
        ):
            clock.now += 5
            assert base(await http.get(path, headers=auth(KEY)))[0] != 1002
        clock.now += 5
        sixth = await http.get(f"/v1/query/video_generation?task_id={task_id}", headers=auth(KEY))
        assert base(sixth) == (1002, "rate limit exceeded(RPM)")
        refused_create = await http.post("/v1/video_generation", json=BODY, headers=auth(KEY))
        assert base(refused_create)[0] == 1002

        # another account has its own window
        other = await http.post("/v1/video_generation", json=BODY, headers=auth(OTHER))
        assert base(other)[0] == 0
        # control endpoints are not counted
        assert (await http.get("/_control/faults", headers=auth(KEY))).json()["base_resp"][
            "status_code"
        ] == 0

        # a sliding window: the first call leaves it 60 s after it was made
        clock.now = 60.0
        again = await http.get(f"/v1/query/video_generation?task_id={task_id}", headers=auth(KEY))
        assert base(again)[0] == 0
        assert base(await http.get("/v1/files/retrieve?file_id=1", headers=auth(KEY)))[0] == 1002

    log = [(e.endpoint, e.code) for e in sandbox.requests.since(0) if e.account]
    assert log.count(("query", 1002)) == 1 and log.count(("create", 1002)) == 1


def test_rpm_default_is_miniMax_standalone_and_off_when_mounted(tmp_path: Path) -> None:
    client = httpx.AsyncClient(trust_env=False)
    try:
        standalone = _sandbox(tmp_path / "a", client)
        create_sandbox_app(standalone, standalone=True)
        assert standalone.limiter.rpm == 20
        mounted = _sandbox(tmp_path / "b", client)
        create_sandbox_app(mounted)
        assert mounted.limiter.rpm == 0
        configured = _sandbox(tmp_path / "c", client, rpm=7)
        create_sandbox_app(configured)
        assert configured.limiter.rpm == 7
    finally:
        asyncio.run(client.aclose())


async def test_download_urls_expire(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock, url_ttl_s=2) as (_, http):
        created = (await http.post("/v1/video_generation", json=BODY, headers=auth(KEY))).json()
        clock.now += 5  # past the timeline; the render runs in real time
        for _ in range(300):
            query = await http.get(
                "/v1/query/video_generation",
                params={"task_id": created["task_id"]},
                headers=auth(KEY),
            )
            if query.json()["status"] == "Success":
                break
            await asyncio.sleep(0.05)
        file_id = query.json()["file_id"]
        retrieved = await http.get(
            "/v1/files/retrieve", params={"file_id": file_id}, headers=auth(KEY)
        )
        url = retrieved.json()["file"]["download_url"]
        assert url.startswith("http://sb.test/v1/files/download/")
        path = url.removeprefix("http://sb.test")

        fresh = await http.get(path)  # no auth header, as official clients download
        assert fresh.status_code == 200 and fresh.headers["content-type"] == "video/mp4"
        assert len(fresh.content) == retrieved.json()["file"]["bytes"]
        clock.now += 2
        assert (await http.get(path)).status_code == 200  # valid through its last second
        clock.now += 1
        expired = await http.get(path)
        assert expired.status_code == 404 and b"expired" in expired.content
        # asking again gives a fresh URL that works
        again = await http.get("/v1/files/retrieve", params={"file_id": file_id}, headers=auth(KEY))
        fresh_path = again.json()["file"]["download_url"].removeprefix("http://sb.test")
        assert (await http.get(fresh_path)).status_code == 200


async def test_request_log_records_every_call(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock) as (_, http):
        await http.post("/v1/video_generation", json=BODY)  # no key
        created = (await http.post("/v1/video_generation", json=BODY, headers=auth(KEY))).json()
        clock.now += 0.5
        mark = clock.now
        clock.now += 0.5
        await http.get(
            "/v1/query/video_generation", params={"task_id": created["task_id"]}, headers=auth(KEY)
        )
        everything = (await http.get("/_control/requests", headers=auth(KEY))).json()
        since = (await http.get(f"/_control/requests?since={mark}", headers=auth(KEY))).json()

    assert [(e["endpoint"], e["code"]) for e in everything] == [
        ("create", 1004),
        ("create", 0),
        ("query", 0),
    ]
    assert everything[0]["account"] is None and everything[0]["key"] is None
    create = everything[1]
    assert create["method"] == "POST" and create["path"] == "/v1/video_generation"
    assert (
        create["key"] == KEY[:6] and create["account"] and create["task_id"] == created["task_id"]
    )
    assert since == everything[2:]
    assert since[0]["task_status"] in ("Queueing", "Processing") and since[0]["http_status"] == 200


async def test_control_endpoint_rejects_bad_plans(tmp_path: Path) -> None:
    async with running(tmp_path) as (_, http):
        for body, fragment in [
            ({"faults": "explode=0.5"}, "unknown fault"),
            ({"faults": "slow=2"}, "between 0 and 1"),
            ({"faults": "slow"}, "needs '=<rate>'"),
            ({"seed": "x"}, "seed"),
            ({"slow_s": -1}, "slow_s"),
            ({"colour": "red"}, "unknown fields"),
            ([1, 2], "JSON object"),
        ]:
            resp = await http.put("/_control/faults", json=body, headers=auth(KEY))
            code, message = base(resp)
            assert code == 2013 and fragment in message, (body, message)
        ok = await http.put(
            "/_control/faults",
            json={"faults": {"http_500": 0.25, "slow": 0}, "seed": 9, "slow_s": 0.5},
            headers=auth(KEY),
        )
        plan = ok.json()
        assert plan["faults"] == {"http_5xx": 0.25} and plan["spec"] == "http_5xx=0.25"
        assert (plan["seed"], plan["slow_s"], plan["hang_s"]) == (9, 0.5, 60.0)
        kept = (await http.put("/_control/faults", json={"seed": 10}, headers=auth(KEY))).json()
        assert kept["faults"] == {"http_5xx": 0.25} and kept["seed"] == 10
        off = (await http.put("/_control/faults", json={"faults": ""}, headers=auth(KEY))).json()
        assert off["faults"] == {}
        assert (await http.get("/_control/faults", headers=auth(KEY))).json()["faults"] == {}
