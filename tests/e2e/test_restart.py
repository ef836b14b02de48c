"""Tasks survive the gateway (and its in-process sandbox) stopping mid-flight."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import API_KEY, STUB_VIDEOS, MiniMax, Server, migrated_database


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[Server]:
    # Long enough in Processing that the stop lands while the tasks are unfinished.
    with migrated_database(tmp_path) as url:
        # A short lease: a killed tracker's claims must expire for the next one to go on.
        env = {"REELGATE_SANDBOX_TIMINGS": "0.5,0.5,4", "REELGATE_LEASE_S": "3", **STUB_VIDEOS}
        srv = Server(tmp_path, url, env=env)
        yield srv
        srv.stop()


@pytest.mark.parametrize("how", ["graceful", "killed"])
def test_tasks_finish_after_a_restart(slow_server: Server, how: str) -> None:
    slow_server.start()
    with MiniMax(slow_server.url + "/minimaxi", API_KEY) as client:
        ids = [
            client.create({"model": "T2V-01", "prompt": f"clip {i} [Truck right]"})["platform_id"]
            for i in range(3)
        ]
        for task_id in ids:
            assert client.query(task_id)["status"] in ("Preparing", "Queueing", "Processing")
    if how == "killed":
        slow_server.kill()
    else:
        slow_server.stop()

    slow_server.start()
    with MiniMax(slow_server.url + "/minimaxi", API_KEY) as client:
        for task_id in ids:
            done = client.wait(task_id)
            assert done["status"] == "Success", done
            file = client.retrieve(done["file_id"])["file"]
            assert file["bytes"] > 10_000
