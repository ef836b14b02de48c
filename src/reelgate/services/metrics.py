"""Prometheus metrics: upstream calls per channel and outcome, budgets, tasks by state,
poll lag and the copy backlog. One registry per app, so several apps never collide."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from reelgate.store.tasks import TaskStore

log = logging.getLogger(__name__)

SAMPLE_EVERY_S = 5.0


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "reelgate_upstream_calls",
            "Calls to upstream channels, by operation and outcome.",
            ["channel", "operation", "outcome"],
            registry=self.registry,
        )
        self.tasks = Gauge(
            "reelgate_tasks", "Tasks in the store by status.", ["status"], registry=self.registry
        )
        self.copy_backlog = Gauge(
            "reelgate_copy_backlog",
            "Finished videos not yet copied into the gateway's storage.",
            registry=self.registry,
        )
        self.poll_delay = Histogram(
            "reelgate_poll_delay_seconds",
            "How late a poll ran after it was due (tracker lag).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.completed = Histogram(
            "reelgate_task_duration_seconds",
            "Time from create to the recorded success.",
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
            registry=self.registry,
        )
        self.budget_used = Gauge(
            "reelgate_channel_calls_last_minute",
            "Calls made to each channel in the last minute (its budget used).",
            ["channel"],
            registry=self.registry,
        )

    def upstream_call(self, channel: str, operation: str, outcome: str) -> None:
        self.calls.labels(channel, operation, outcome).inc()

    def observe(self, name: str, value: float) -> None:
        if name == "poll_delay":
            self.poll_delay.observe(max(0.0, value))
        elif name == "completed":
            self.completed.observe(value)

    async def sample_store(self, tasks: TaskStore) -> None:
        """Refresh the gauges read from the store, every few seconds."""
        while True:
            try:
                counts = await tasks.count_by_status()
                for status in (
                    "submitting",
                    "queued",
                    "running",
                    "succeeded",
                    "failed",
                    "cancelled",
                ):
                    self.tasks.labels(status).set(counts.get(status, 0))
                self.copy_backlog.set(len(await tasks.pending_copies(10_000)))
            except Exception:  # a metrics hiccup must never take anything down
                log.exception("sampling metrics failed")
            await asyncio.sleep(SAMPLE_EVERY_S)
