"""Several upstream channels and two gateway processes over one store: each task is polled
by one tracker at a time.

A sandbox runs as a separate upstream process with an account per channel; two gateways
reach it over HTTP, and the sandbox's own request log says what they really did. (The
rest of the channel behaviour needs no process boundary and is tested in process, by the
fake clock: failover, a refusal not retried elsewhere, a dead channel skipped and taken
back, budgets: ``tests/inprocess/test_channels.py``.)
"""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import API_KEY, MiniMax, Server, migrated_database

T2V = {"model": "T2V-01", "prompt": "a kite over a beach"}
NAMES = ("alpha", "beta", "gamma")


def sandbox_key(name: str) -> str:
    return f"key-pair-{name}"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Server]:
    """One upstream with an account per channel. Its videos are a stub: this module is
    about who polls, not about what is rendered."""
    server = Server(
        tmp_path / "sandbox",
        "sqlite+aiosqlite://",
        command="sandbox",
        env={
            "REELGATE_SANDBOX_API_KEYS": json.dumps([sandbox_key(n) for n in NAMES]),
            "REELGATE_SANDBOX_RPM": "0",
            "REELGATE_SANDBOX_TIMINGS": "0.3,0.3,0.8",
            "REELGATE_SANDBOX_RENDER": "stub",
            "REELGATE_SANDBOX_RENDER_WORKERS": "1",
        },
    ).start()
    yield server
    server.stop()


def channels_file(path: Path, sandbox: Server) -> Path:
    lines = []
    for name in NAMES:
        entry: dict[str, Any] = {
            "name": name,
            "kind": "sandbox",
            "base_url": sandbox.url,
            "api_key": sandbox_key(name),
            "priority": 10 if name != "gamma" else 0,
        }
        lines.append("[[channels]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in entry.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def gateway(channels: Path, data_dir: Path, url: str, **env: str) -> Server:
    return Server(
        data_dir,
        url,
        env={
            "REELGATE_CHANNELS_FILE": str(channels),
            "REELGATE_SANDBOX_ENABLED": "false",
            "REELGATE_UPSTREAM_TIMEOUT_S": "3",
            **env,
        },
    ).start()


def calls(sandbox: Server, since: float) -> list[dict[str, Any]]:
    """Every call the sandbox logged since ``since``, whichever channel made it."""
    headers = {"Authorization": f"Bearer {sandbox_key(NAMES[0])}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, trust_env=False) as c:
        entries: list[dict[str, Any]] = c.get("/_control/requests", params={"since": since}).json()
    return entries


def test_two_trackers_never_poll_one_task_at_once(sandbox: Server, tmp_path: Path) -> None:
    path = channels_file(tmp_path / "ch.toml", sandbox)
    with migrated_database(tmp_path) as url:
        env = {"REELGATE_POLL_INITIAL_S": "0.05", "REELGATE_POLL_MAX_S": "0.1"}
        first = gateway(path, tmp_path / "one", url, **env)
        try:
            second = gateway(path, tmp_path / "two", url, **env)
            try:
                t0 = time.time()
                ids = []
                for i in range(12):
                    with MiniMax((first if i % 2 else second).url + "/minimaxi") as client:
                        ids.append(client.create(T2V)["platform_id"])
                with MiniMax(first.url + "/minimaxi", API_KEY) as client:
                    done = [client.wait(t, 60) for t in ids]
            finally:
                second.stop()
        finally:
            first.stop()
    assert {d["status"] for d in done} == {"Success"}
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for e in calls(sandbox, t0):
        if e["endpoint"] == "query":
            spans[e["task_id"]].append((e["t"], e["t"] + e["duration_s"]))
    assert spans
    for task_id, intervals in spans.items():
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            assert start >= end - 1e-3, f"task {task_id} was polled twice at once"
