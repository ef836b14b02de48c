"""Several upstream channels: failover, a dead channel, budgets, and one poller per task.

Three sandboxes run as separate upstream processes; gateways reach them over HTTP as
channels, and the sandboxes' own request logs say what the gateways really did. (Failover
past refusing and broken channels, and a refused request not retried elsewhere, are tested
in process: ``tests/inprocess/test_channels.py``.)
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import API_KEY, MiniMax, Server, fresh_database

T2V = {"model": "T2V-01", "prompt": "a kite over a beach"}
NAMES = ("alpha", "beta", "gamma")


def sandbox_key(name: str, gateway: str) -> str:
    return f"key-{gateway}-{name}"


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    servers: dict[str, Server] = {}
    try:
        for name in NAMES:
            keys = [sandbox_key(name, g) for g in ("failover", "budget", "pair")]
            servers[name] = Server(
                tmp_path_factory.mktemp(f"sandbox-{name}"),
                "sqlite+aiosqlite://",
                command="sandbox",
                env={
                    "REELGATE_SANDBOX_API_KEYS": json.dumps(keys),
                    "REELGATE_SANDBOX_RPM": "0",
                    "REELGATE_SANDBOX_TIMINGS": "0.3,0.3,0.8",
                    "REELGATE_SANDBOX_RENDER_WORKERS": "1",
                },
            ).start()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def channels_file(
    path: Path, sandboxes: dict[str, Server], gateway: str, **overrides: dict[str, Any]
) -> Path:
    lines = []
    for name, server in sandboxes.items():
        entry: dict[str, Any] = {
            "name": name,
            "kind": "sandbox",
            "base_url": server.url,
            "api_key": sandbox_key(name, gateway),
            "priority": 10 if name != "gamma" else 0,
            **overrides.get(name, {}),
        }
        lines.append("[[channels]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in entry.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Server] = []

    def start(
        channels: Path, data_dir: Path | None = None, url: str | None = None, **env: str
    ) -> Server:
        server = Server(
            data_dir or tmp_path / "gateway",
            url or f"sqlite+aiosqlite:///{tmp_path / 'gateway' / 'reelgate.db'}",
            env={
                "REELGATE_CHANNELS_FILE": str(channels),
                "REELGATE_SANDBOX_ENABLED": "false",
                "REELGATE_UPSTREAM_TIMEOUT_S": "3",
                **env,
            },
        )
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


def control(server: Server, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {key}"}, trust_env=False
    )


def calls(server: Server, key: str, since: float) -> list[dict[str, Any]]:
    with control(server, key) as c:
        entries: list[dict[str, Any]] = c.get("/_control/requests", params={"since": since}).json()
    return [e for e in entries if key.startswith(e.get("key") or "\0")]


def wait_all(client: MiniMax, task_ids: list[str], timeout: float = 60) -> list[dict[str, Any]]:
    return [client.wait(t, timeout) for t in task_ids]


@pytest.mark.once
def test_a_dead_channel_is_skipped_and_comes_back(
    sandboxes: dict[str, Server], gateway_factory: Any, tmp_path: Path
) -> None:
    # only alpha and beta in the top tier; beta dies, then returns
    gw = gateway_factory(
        channels_file(tmp_path / "ch.toml", sandboxes, "failover", gamma={"enabled": False})
    )
    beta = sandboxes["beta"]
    beta.kill()
    try:
        with MiniMax(gw.url + "/minimaxi", API_KEY) as client:
            created = [client.create(T2V) for _ in range(4)]
            assert all(c["base_resp"]["status_code"] == 0 for c in created)
            beta.start()
            t_back = time.time()
            time.sleep(6)  # beta's first cool-down (5 s) runs out
            later = [client.create(T2V) for _ in range(8)]
            wait_all(client, [c["platform_id"] for c in created + later])
        back = [
            e
            for e in calls(beta, sandbox_key("beta", "failover"), t_back)
            if e["endpoint"] == "create" and e["code"] == 0
        ]
        assert back, "beta never got traffic again after it came back"
    finally:
        if beta.proc is None or beta.proc.poll() is not None:
            beta.start()


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.once
def test_no_channel_exceeds_its_budget(
    sandboxes: dict[str, Server], gateway_factory: Any, tmp_path: Path
) -> None:
    rpm, window = 8, 10.0
    budget = {n: {"rpm": rpm, "priority": 0} for n in NAMES}
    gw = gateway_factory(
        channels_file(tmp_path / "ch.toml", sandboxes, "budget", **budget),
        REELGATE_CHANNEL_BUDGET_WINDOW_S=str(window),
    )
    t0 = time.time()
    results: list[dict[str, Any]] = []

    def one() -> None:
        with MiniMax(gw.url + "/minimaxi", API_KEY) as client:
            results.append(client.http.post("/v1/video_generation", json=T2V).json())

    threads = [threading.Thread(target=one) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = [r["platform_id"] for r in results if r["base_resp"]["status_code"] == 0]
    refused = [r for r in results if r["base_resp"]["status_code"] != 0]
    assert all(r["base_resp"]["status_code"] == 1002 for r in refused)
    assert accepted
    with MiniMax(gw.url + "/minimaxi", API_KEY) as client:
        done = wait_all(client, accepted, timeout=120)
    assert {d["status"] for d in done} == {"Success"}
    for name, server in sandboxes.items():
        times = [
            e["t"]
            for e in calls(server, sandbox_key(name, "budget"), t0)
            if e["endpoint"] in ("create", "query", "retrieve")
        ]
        assert max_in_window(times, window) <= rpm, (name, len(times))


def test_two_trackers_never_poll_one_task_at_once(
    sandboxes: dict[str, Server], gateway_factory: Any, tmp_path: Path
) -> None:
    path = channels_file(tmp_path / "ch.toml", sandboxes, "pair")
    with fresh_database(tmp_path) as url:
        env = {"REELGATE_POLL_INITIAL_S": "0.05", "REELGATE_POLL_MAX_S": "0.1"}
        first = gateway_factory(path, tmp_path / "one", url, **env)
        second = gateway_factory(path, tmp_path / "two", url, **env)
        t0 = time.time()
        ids = []
        for i in range(12):
            with MiniMax((first if i % 2 else second).url + "/minimaxi", API_KEY) as client:
                ids.append(client.create(T2V)["platform_id"])
        with MiniMax(first.url + "/minimaxi", API_KEY) as client:
            done = wait_all(client, ids)
        assert {d["status"] for d in done} == {"Success"}
        spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for name, server in sandboxes.items():
            for e in calls(server, sandbox_key(name, "pair"), t0):
                if e["endpoint"] == "query":
                    spans[e["task_id"]].append((e["t"], e["t"] + e["duration_s"]))
        assert spans
        for task_id, intervals in spans.items():
            intervals.sort()
            for (_, end), (start, _) in itertools.pairwise(intervals):
                assert start >= end - 1e-3, f"task {task_id} was polled twice at once"
