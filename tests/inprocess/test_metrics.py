"""Prometheus metrics for channels, budgets, tasks and the tracker, in process (moved from
``tests/e2e/test_metrics.py``, which slept six seconds for the store gauges' next sample).

The gauges read from the store are sampled by the gateway's own background loop, as in a
server; only its period is shortened here, so that the test waits a moment for the next
sample instead of five seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from reelgate.services import metrics
from tests.inprocess.harness import InProcess, in_process
from tests.support import ADMIN_TOKEN, migrated_database

pytestmark = pytest.mark.asyncio(loop_scope="module")

SAMPLE_EVERY_S = 0.05


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcess]:
    data_dir: Path = tmp_path_factory.mktemp("metrics")
    with pytest.MonkeyPatch.context() as patch, migrated_database(data_dir) as url:
        patch.setattr(metrics, "SAMPLE_EVERY_S", SAMPLE_EVERY_S)
        async with in_process(data_dir, url) as gw:
            yield gw


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format, 0 when absent."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()) and (
            head == name or head.startswith(name + "{")
        ):
            return float(value)
    return 0.0


async def test_metrics_count_calls_tasks_and_lag(gateway: InProcess) -> None:
    async with gateway.client(path="/minimaxi") as client:
        made = await client.post("/v1/video_generation", json={"model": "T2V-01", "prompt": "m"})
        created = made.json()
        assert created["base_resp"]["status_code"] == 0, created
    await gateway.finish(created["task_id"])
    async with gateway.client(ADMIN_TOKEN) as admin:  # not public: test_exposure.py
        # the store gauges are sampled in the background: wait for a sample that saw it
        deadline = time.monotonic() + 100 * SAMPLE_EVERY_S
        while True:
            resp = await admin.get("/metrics")
            assert resp.status_code == 200
            if sample(resp.text, "reelgate_tasks", status="succeeded") >= 1:
                break
            assert time.monotonic() < deadline, resp.text
            await asyncio.sleep(SAMPLE_EVERY_S)
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    calls = "reelgate_upstream_calls_total"
    assert sample(text, calls, channel="sandbox", operation="submit", outcome="ok") >= 1
    assert sample(text, calls, channel="sandbox", operation="query", outcome="ok") >= 1
    assert sample(text, calls, channel="sandbox", operation="retrieve", outcome="ok") >= 1
    assert sample(text, "reelgate_tasks", status="succeeded") >= 1
    assert sample(text, "reelgate_poll_delay_seconds_count") >= 1
    assert sample(text, "reelgate_task_duration_seconds_count") >= 1
    assert "reelgate_copy_backlog" in text
    assert "reelgate_channel_calls_last_minute" in text
