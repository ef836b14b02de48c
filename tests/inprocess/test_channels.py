"""Several upstream channels in process: failover past refusing and broken channels, a
refusal of the request itself not retried elsewhere, a dead channel skipped and taken back
once its cool-down has passed, and no channel called past its request budget.

Moved from ``tests/e2e/test_channels.py``, where three sandbox processes played the
channels and a test slept through a cool-down: here the fake upstream's faults on cue
target one channel each, its call log says what the gateway really did, and the fake
clock (which the channel router, its budgets and the tracker all read) moves time on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text

from reelgate.errors import UpstreamUnavailable
from reelgate.providers.fake import Call, FakeUpstream
from tests.inprocess.harness import InProcess, in_process
from tests.support import migrated_database

pytestmark = pytest.mark.asyncio(loop_scope="module")

T2V = {"model": "T2V-01", "prompt": "a kite over a beach"}
NAMES = ("alpha", "beta", "gamma")
BUDGETED = ("submit", "query", "retrieve")  # the calls a channel's rpm counts


def channels_file(path: Path, **overrides: dict[str, Any]) -> Path:
    lines = []
    for name in NAMES:
        entry: dict[str, Any] = {
            "name": name,
            "kind": "sandbox",
            "base_url": f"http://{name}.invalid",
            "api_key": f"key-failover-{name}",
            "priority": 10 if name != "gamma" else 0,
            **overrides.get(name, {}),
        }
        lines.append("[[channels]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in entry.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.asynccontextmanager
async def channel_gateway(
    tmp_path: Path,
    channels: dict[str, dict[str, Any]] | None = None,
    upstream: FakeUpstream | None = None,
    **settings: Any,
) -> AsyncIterator[InProcess]:
    """A gateway of its own, on the three channels (``channels``: per-channel changes)."""
    with migrated_database(tmp_path) as url:
        path = channels_file(tmp_path / "ch.toml", **(channels or {}))
        async with in_process(tmp_path / "gw", url, upstream, channels_file=path, **settings) as gw:
            yield gw


@pytest_asyncio.fixture(loop_scope="module")
async def gateway(tmp_path: Path) -> AsyncIterator[InProcess]:
    """A gateway of its own per test: a channel's cool-down must not leak into the next."""
    async with channel_gateway(tmp_path) as gw:
        yield gw


async def channel_list(gateway: InProcess) -> dict[str, dict[str, Any]]:
    async with gateway.admin() as admin:
        return {c["name"]: c for c in (await admin.get("/channels")).json()["data"]}


def creates(gateway: InProcess, name: str) -> list[Any]:
    return [c for c in gateway.upstream.called("submit") if c.channel == name]


async def create(client: httpx.AsyncClient) -> dict[str, Any]:
    answer: dict[str, Any] = (await client.post("/v1/video_generation", json=T2V)).json()
    return answer


async def statuses(client: httpx.AsyncClient, task_ids: list[str]) -> set[str]:
    params = [{"task_id": t} for t in task_ids]
    answers = [await client.get("/v1/query/video_generation", params=p) for p in params]
    return {a.json()["status"] for a in answers}


async def test_failover_skips_refusing_and_broken_channels(gateway: InProcess) -> None:
    up = gateway.upstream
    up.refuse_next("submit", 1002, "rate limit", channel="alpha")
    up.fault_next("submit", UpstreamUnavailable("upstream answered HTTP 500"), channel="beta")
    async with gateway.client(path="/minimaxi") as client:
        created = [(await client.post("/v1/video_generation", json=T2V)).json() for _ in range(5)]
        assert all(c["base_resp"]["status_code"] == 0 for c in created), created
        listed = await channel_list(gateway)
        # alpha's 1002 is its account's fault: it cools down for everyone; beta's 5xx
        # could be this request's fault: beta cools down for this account only
        assert listed["alpha"]["cooling_down"] and not listed["beta"]["cooling_down"]
        assert not listed["gamma"]["cooling_down"]
        assert all("key-failover" not in json.dumps(c) for c in listed.values())
        await gateway.finish(*(c["task_id"] for c in created))
        done = [
            (await client.get("/v1/query/video_generation", params={"task_id": c["task_id"]}))
            for c in created
        ]
    assert {d.json()["status"] for d in done} == {"Success"}
    # each broken channel was tried, failed, and was then left alone while cooling down
    assert 1 <= len(creates(gateway, "alpha")) <= 2 and 1 <= len(creates(gateway, "beta")) <= 2
    gamma_ids = {t.task_id for t in up.tasks.values() if t.channel == "gamma"}
    assert gamma_ids == {c["task_id"] for c in created}  # every gamma create answered 0
    assert len(creates(gateway, "gamma")) == 5


async def test_a_refusal_of_the_request_is_not_retried_elsewhere(gateway: InProcess) -> None:
    for name in NAMES:
        gateway.upstream.refuse_next("submit", 1026, "input flagged", channel=name)
    async with gateway.client(path="/minimaxi") as client:
        resp = (await client.post("/v1/video_generation", json=T2V)).json()
    assert resp["base_resp"]["status_code"] == 1026
    assert sum(len(creates(gateway, n)) for n in NAMES) == 1
    gateway.upstream.clear_faults()


async def test_a_dead_channel_is_skipped_and_comes_back(tmp_path: Path) -> None:
    # only alpha and beta in the top tier; beta dies, then returns
    async with channel_gateway(tmp_path, {"gamma": {"enabled": False}}) as gateway:
        up = gateway.upstream
        up.unreachable_next("submit", times=4, channel="beta")  # nothing answers there
        async with gateway.client(path="/minimaxi") as client:
            created = [await create(client) for _ in range(4)]
            assert all(c["base_resp"]["status_code"] == 0 for c in created), created
            up.clear_faults()  # beta is back
            assert not [t for t in up.tasks.values() if t.channel == "beta"]
            up.clock.advance(6)  # beta's first cool-down (5 s) runs out
            # alpha dies in turn: with gamma disabled, only a beta taken back can answer
            # (the order within a tier is random; this way the test does not depend on it)
            up.unreachable_next("submit", times=8, channel="alpha")
            later = [await create(client) for _ in range(8)]
            assert all(c["base_resp"]["status_code"] == 0 for c in later), later
            up.clear_faults()
            await gateway.finish(*(c["task_id"] for c in created + later))
            assert await statuses(client, [c["task_id"] for c in created + later]) == {"Success"}
        back = {t.task_id for t in up.tasks.values() if t.channel == "beta"}  # accepted submits
        assert back == {c["task_id"] for c in later}, "beta did not take the traffic back"


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


class CallTimes:
    """When each upstream call was made, by the fake clock: time moves only between the
    test's steps, so every call since the last look was made at the clock's reading now."""

    def __init__(self, upstream: FakeUpstream) -> None:
        self._up = upstream
        self._seen = 0
        self.calls: list[tuple[float, Call]] = []

    def take(self) -> None:
        now = self._up.clock()
        self.calls += [(now, c) for c in self._up.calls[self._seen :]]
        self._seen = len(self._up.calls)


async def unfinished(gateway: InProcess) -> int:
    query = "SELECT count(*) FROM tasks WHERE status IN ('submitting', 'queued', 'running')"
    async with gateway.gw.engine.connect() as conn:
        return int((await conn.execute(text(query))).scalar_one())


async def test_no_channel_exceeds_its_budget(tmp_path: Path) -> None:
    rpm, window = 8, 10.0
    budget = {n: {"rpm": rpm, "priority": 0} for n in NAMES}
    upstream = FakeUpstream(timings=(0.6, 0.8))  # as the sandboxes' 0.3,0.3,0.8
    async with channel_gateway(
        tmp_path, budget, upstream, channel_budget_window_s=window
    ) as gateway:
        times = CallTimes(upstream)
        async with gateway.client(path="/minimaxi") as client:
            results = await asyncio.gather(*(create(client) for _ in range(16)))
        times.take()
        accepted = [r["platform_id"] for r in results if r["base_resp"]["status_code"] == 0]
        refused = [r for r in results if r["base_resp"]["status_code"] != 0]
        assert all(r["base_resp"]["status_code"] == 1002 for r in refused), refused
        assert accepted
        # the worker's loop, by the fake clock: a round every half second until all are done
        started = upstream.clock()
        while await unfinished(gateway):
            assert upstream.clock() - started < 600, "tasks left unfinished"
            upstream.clock.advance(0.5)
            await gateway.gw.tracker.poll_due()
            times.take()
        async with gateway.client(path="/minimaxi") as client:
            assert await statuses(client, accepted) == {"Success"}
    for name in NAMES:
        mine = [t for t, c in times.calls if c.channel == name and c.operation in BUDGETED]
        assert max_in_window(mine, window) <= rpm, (name, len(mine))
