"""Prometheus metrics for channels, budgets, tasks and the tracker."""

from __future__ import annotations

import time

import httpx

from tests.support import ADMIN_TOKEN, API_KEY, MiniMax, Server


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


def test_metrics_count_calls_tasks_and_lag(server: Server) -> None:
    with MiniMax(server.url + "/minimaxi", API_KEY) as client:
        task = client.create({"model": "T2V-01", "prompt": "metrics"})["platform_id"]
        client.wait(task)
    time.sleep(6)  # the store gauges are sampled every few seconds
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # not public: test_exposure.py
    resp = httpx.get(server.url + "/metrics", headers=headers, trust_env=False)
    assert resp.status_code == 200
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
