"""Several upstream channels in process: failover past refusing and broken channels, and a
refusal of the request itself not retried elsewhere (moved from ``tests/e2e/test_channels.py``,
where three sandbox processes played the channels; here the fake upstream's faults on cue
target one channel each, and its call log says what the gateway really did)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from reelgate.errors import UpstreamUnavailable
from tests.inprocess.harness import InProcess, in_process
from tests.support import fresh_database

pytestmark = pytest.mark.asyncio(loop_scope="module")

T2V = {"model": "T2V-01", "prompt": "a kite over a beach"}
NAMES = ("alpha", "beta", "gamma")


def channels_file(path: Path) -> Path:
    lines = []
    for name in NAMES:
        entry: dict[str, Any] = {
            "name": name,
            "kind": "sandbox",
            "base_url": f"http://{name}.invalid",
            "api_key": f"key-failover-{name}",
            "priority": 10 if name != "gamma" else 0,
        }
        lines.append("[[channels]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in entry.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest_asyncio.fixture(loop_scope="module")
async def gateway(tmp_path: Path) -> AsyncIterator[InProcess]:
    """A gateway of its own per test: a channel's cool-down must not leak into the next."""
    with fresh_database(tmp_path) as url:
        channels = channels_file(tmp_path / "ch.toml")
        async with in_process(tmp_path / "gw", url, channels_file=channels) as gw:
            yield gw


async def channel_list(gateway: InProcess) -> dict[str, dict[str, Any]]:
    async with gateway.admin() as admin:
        return {c["name"]: c for c in (await admin.get("/channels")).json()["data"]}


def creates(gateway: InProcess, name: str) -> list[Any]:
    return [c for c in gateway.upstream.called("submit") if c.channel == name]


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
