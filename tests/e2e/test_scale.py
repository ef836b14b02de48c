"""Many processes over one store: API replicas (`serve --no-worker`) and workers
(`reelgate worker`) on PostgreSQL and Redis, with a standalone sandbox as the upstream.

The cluster is real: separate processes that share nothing but PostgreSQL, Redis and a
data folder (the videos, as a shared volume would be). The sandbox's request log says what
the workers really did upstream; the store says where the money went.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.support import (
    ADMIN_TOKEN,
    API_KEY,
    Server,
    free_port,
    fresh_database,
    postgres_test_url,
    redis_test_url,
    service_missing,
)

SANDBOX_KEY = "scale-sandbox-key"
T2V = {"model": "T2V-01", "prompt": "a paper boat on a river [Pan left]"}
TASKS = 300
LEASE_S = 10  # a killed worker's tasks move on after this
UNFINISHED = ("submitting", "queued", "running")
FIRST_POLL = {"REELGATE_POLL_INITIAL_S": "0.1"}


def sql(url: str, query: str) -> list[Any]:
    """Rows of one query, read straight from the store."""

    async def run() -> list[Any]:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text(query))).all())
        finally:
            await engine.dispose()

    return asyncio.run(run())


def require_services() -> tuple[str, str]:
    pg, redis_url = postgres_test_url(), redis_test_url()
    try:
        sql(pg, "SELECT 1")
    except Exception as exc:
        service_missing(f"PostgreSQL is not reachable at {pg}: {exc}")
    try:
        with Redis.from_url(redis_url, socket_timeout=2) as redis:
            redis.ping()
    except (RedisError, OSError) as exc:
        service_missing(f"Redis is not reachable at {redis_url}: {exc}")
    return pg, redis_url


@dataclass
class Cluster:
    database_url: str
    redis_url: str
    redis_prefix: str
    sandbox: Server
    replicas: list[Server]
    workers: list[Server]

    def admin(self, replica: int = 0) -> httpx.Client:
        return httpx.Client(
            base_url=self.replicas[replica].url + "/admin/v1",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            trust_env=False,
            timeout=30,
        )

    def sandbox_calls(self, since: float) -> list[dict[str, Any]]:
        with httpx.Client(
            base_url=self.sandbox.url,
            headers={"Authorization": f"Bearer {SANDBOX_KEY}"},
            trust_env=False,
            timeout=30,
        ) as c:
            entries: list[dict[str, Any]] = c.get(
                "/_control/requests", params={"since": since}
            ).json()
        return entries


def minimax(server: Server, key: str = API_KEY) -> httpx.Client:
    return httpx.Client(
        base_url=server.url + "/minimaxi/v1",
        headers={"Authorization": f"Bearer {key}"},
        trust_env=False,
        timeout=60,
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    pg, redis_url = require_services()
    root = tmp_path_factory.mktemp("scale")
    prefix = f"rgtest:scale-{uuid.uuid4().hex[:8]}:"
    sandbox = Server(
        root / "upstream",
        "unused",
        command="sandbox",
        env={
            "REELGATE_SANDBOX_API_KEYS": json.dumps([SANDBOX_KEY]),
            "REELGATE_SANDBOX_RPM": "0",
            "REELGATE_SANDBOX_TIMINGS": "0.3,0.3,0.6",
            "REELGATE_SANDBOX_RENDER_WORKERS": "1",
            # one tiny shared clip instead of 300 renders: the CPU goes to the gateway
            "REELGATE_SANDBOX_RENDER": "stub",
            # a tenth of the tasks fail halfway: refunds go through the ledger too
            "REELGATE_SANDBOX_FAULTS": "fail_midway=0.1",
        },
    ).start()
    started: list[Server] = [sandbox]
    try:
        with fresh_database(root, pg) as url:
            channels = root / "channels.toml"
            channels.write_text(
                "[[channels]]\n"
                'name = "sb"\n'
                'kind = "sandbox"\n'
                f'base_url = "{sandbox.url}"\n'
                f'api_key = "{SANDBOX_KEY}"\n'
            )
            env = {
                "REELGATE_CHANNELS_FILE": str(channels),
                "REELGATE_SANDBOX_ENABLED": "false",
                "REELGATE_REDIS_URL": redis_url,
                "REELGATE_REDIS_PREFIX": prefix,
                "REELGATE_LEASE_S": str(LEASE_S),
                "REELGATE_UPSTREAM_TIMEOUT_S": "10",
            }
            shared = root / "gateway"  # one data folder: the videos' shared volume
            migrate = subprocess.run(
                [sys.executable, "-m", "reelgate", "migrate"],
                env={**os.environ, "REELGATE_DATA_DIR": str(shared), "REELGATE_DATABASE_URL": url},
                capture_output=True,
                text=True,
                check=False,
            )
            assert migrate.returncode == 0, migrate.stdout + migrate.stderr
            # The first replica bootstraps the store; the rest start together.
            first = Server(shared, url, env=env, args=("--no-worker",)).start()
            started.append(first)
            others = [Server(shared, url, env=env, args=("--no-worker",))] + [
                Server(shared, url, command="worker", env=env) for _ in range(3)
            ]
            started += others  # stopped in the end even if one fails to start
            with ThreadPoolExecutor(len(others)) as pool:
                list(pool.map(lambda s: s.start(), others))
            try:
                yield Cluster(url, redis_url, prefix, sandbox, [first, others[0]], others[1:])
            finally:  # before the database is dropped
                for server in started[1:]:
                    server.stop()
    finally:
        for server in reversed(started):
            server.stop()
        with Redis.from_url(redis_url) as redis:
            keys = list(redis.scan_iter(match=f"{prefix}*"))
            if keys:
                redis.delete(*keys)


@pytest.mark.once  # PostgreSQL and Redis whatever the pass: once is enough
def test_processes_play_their_roles(cluster: Cluster) -> None:
    for replica in cluster.replicas:
        ready = httpx.get(replica.url + "/readyz", trust_env=False).json()
        assert ready == {"status": "ready", "worker": False, "redis": "ok"}
    for worker in cluster.workers:
        assert "worker running: tracker, dispatcher" in worker.log()
    # a replica without Redis would say that its limits are its own; with it, silence
    assert all("REELGATE_REDIS_URL is not set" not in s.log() for s in cluster.replicas)


@pytest.mark.once
def test_a_keys_rate_limit_holds_across_replicas(cluster: Cluster) -> None:
    rpm = 10
    with cluster.admin() as admin:
        resp = admin.post("/accounts/1/keys", json={"name": "scale-rpm", "rpm_limit": rpm})
        assert resp.status_code == 201, resp.text
        key = resp.json()["key"]
    clients = [minimax(r, key) for r in cluster.replicas]
    try:
        codes = [
            clients[i % 2]
            .get("/query/video_generation", params={"task_id": "no-such-task"})
            .json()["base_resp"]["status_code"]
            for i in range(rpm + 6)
        ]
    finally:
        for c in clients:
            c.close()
    refused = [i for i, code in enumerate(codes) if code == 1002]
    assert len(refused) == 6 and min(refused) == rpm, codes
    # both replicas answered both ways: the window is one, not one per replica
    assert {i % 2 for i in refused} == {0, 1}


@pytest.mark.once
def test_events_recorded_by_workers_reach_a_stream_on_another_replica(cluster: Cluster) -> None:
    a, b = cluster.replicas
    latencies: list[float] = []
    lock = threading.Lock()

    def follow(platform_id: str) -> list[str]:
        statuses = []
        opened = time.time()
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with (
            httpx.Client(base_url=a.url, headers=headers, trust_env=False, timeout=30) as c,
            c.stream("GET", f"/v1/tasks/{platform_id}/events") as resp,
        ):
            assert resp.status_code == 200
            for line in resp.iter_lines():
                if not line.startswith("data: "):
                    continue
                arrived = time.time()
                event = json.loads(line[6:])
                statuses.append(event["status"])
                at = datetime.fromisoformat(event["at"].replace("Z", "+00:00")).timestamp()
                if at > opened:  # recorded while we listened (not a replay)
                    with lock:
                        latencies.append(arrived - at)
        return statuses

    published: list[int] = []
    listening, done = threading.Event(), threading.Event()

    def listen() -> None:  # what the processes publish for each other
        with Redis.from_url(cluster.redis_url) as redis, redis.pubsub() as pubsub:
            pubsub.subscribe(f"{cluster.redis_prefix}task-changes")
            listening.set()
            while not done.is_set():
                message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
                if message is not None:
                    published.append(int(message["data"].decode().partition(":")[2]))

    listener = threading.Thread(target=listen)
    listener.start()
    try:
        listening.wait(10)
        with minimax(b) as client:
            ids = [
                client.post("/video_generation", json=T2V).json()["platform_id"] for _ in range(6)
            ]
        with ThreadPoolExecutor(len(ids)) as pool:
            streams = list(pool.map(follow, ids))
    finally:
        done.set()
        listener.join()
    assert all(s[-1] in ("succeeded", "failed") for s in streams), streams
    assert len(latencies) >= len(ids) * 2, latencies
    # every change recorded (by a replica or a worker) was published for the others
    rows = sql(
        cluster.database_url,
        f"SELECT id, event_seq FROM tasks WHERE platform_id IN ({', '.join(repr(i) for i in ids)})",
    )
    assert all(published.count(task_id) >= seq for task_id, seq in rows), (rows, published)
    # so the stream on the other replica heard of each at once: within ~1 s even on a
    # loaded machine, and typically in tens of milliseconds (without Redis it only
    # re-reads the store every second, half a second late on average)
    assert max(latencies) < 1.5, sorted(latencies)
    assert statistics.median(latencies) < 0.4, sorted(latencies)
    print(
        f"\nSSE across replicas: {len(latencies)} events, median "
        f"{statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )


def overlapping_polls(calls: list[dict[str, Any]]) -> list[str]:
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for e in calls:
        if e["endpoint"] == "query" and e.get("task_id"):
            spans[e["task_id"]].append((e["t"], e["t"] + e["duration_s"]))
    bad = []
    for task_id, intervals in spans.items():
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            if start < end - 1e-3:
                bad.append(task_id)
    return bad


@pytest.mark.once
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_replicas_and_workers_finish_every_task_when_a_worker_dies(cluster: Cluster) -> None:
    with cluster.admin() as admin:
        resp = admin.post("/accounts", json={"name": "scale-two", "initial_credit": 50_000})
        assert resp.status_code == 201, resp.text
        account = resp.json()["id"]
        resp = admin.post(f"/accounts/{account}/keys", json={"name": "scale-two"})
        other_key = resp.json()["key"]
    keys = [API_KEY, other_key]
    t0 = time.time()
    created: list[str] = []
    halfway = threading.Event()

    def create(i: int) -> str:
        replica = cluster.replicas[i % 2]
        with minimax(replica, keys[(i // 2) % 2]) as client:
            body = client.post("/video_generation", json=T2V).json()
        assert body["base_resp"]["status_code"] == 0, body
        created.append(body["platform_id"])
        if len(created) >= TASKS // 2:
            halfway.set()
        return str(body["platform_id"])

    with ThreadPoolExecutor(8) as pool:
        creating = pool.map(create, range(TASKS))
        halfway.wait(120)
        orphans = kill_holding_leases(cluster, cluster.workers[0])
        ids = list(creating)
    submitted = time.time()
    assert len(set(ids)) == TASKS

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        left = sql(
            cluster.database_url,
            f"SELECT count(*) FROM tasks WHERE status IN {UNFINISHED!r}",
        )[0][0]
        if left == 0:
            break
        time.sleep(0.5)
    finished = time.time()
    statuses = dict(sql(cluster.database_url, "SELECT status, count(*) FROM tasks GROUP BY status"))
    # every task of this test (and of the others in the module) reached a terminal state
    assert set(statuses) <= {"succeeded", "failed"}, statuses
    failed = sql(
        cluster.database_url,
        "SELECT error_code, count(*) FROM tasks WHERE status = 'failed' GROUP BY error_code",
    )
    assert all(code != 1001 for code, _ in failed), failed  # none ran into its deadline

    # no task was polled by two workers at once
    calls = cluster.sandbox_calls(t0)
    assert not overlapping_polls(calls)
    # the dead worker's tasks waited for its leases to expire, then others took them on:
    # within a lease only its holder queries (once: the query it may have had in flight
    # when it froze), and after it someone else does
    for upstream_id, lease_until in orphans.items():
        times = [e["t"] for e in calls if e["endpoint"] == "query" and e["task_id"] == upstream_id]
        during = [t for t in times if lease_until - LEASE_S <= t < lease_until]
        after = [t for t in times if t >= lease_until]
        assert len(during) <= 1 and after, (upstream_id, lease_until, times)

    # every balance equals its ledger
    books = sql(
        cluster.database_url,
        "SELECT a.id, a.balance, COALESCE(SUM(l.amount), 0) FROM accounts a "
        "LEFT JOIN ledger l ON l.account_id = a.id GROUP BY a.id, a.balance",
    )
    assert books and all(balance == total for _, balance, total in books), books

    queries = sum(1 for e in calls if e["endpoint"] == "query")
    print(
        f"\n{TASKS} tasks over 2 replicas and 3 workers (one killed halfway): "
        f"submitted in {submitted - t0:.1f} s ({TASKS / (submitted - t0):.0f} creates/s), "
        f"all terminal after {finished - t0:.1f} s ({TASKS / (finished - t0):.1f} tasks/s); "
        f"{queries} upstream queries; statuses {statuses}; the killed worker held "
        f"{len(orphans)} leases"
    )


def kill_holding_leases(cluster: Cluster, victim: Server) -> dict[str, float]:
    """SIGKILL ``victim`` at a moment it holds leases: freeze it (SIGSTOP) until it is
    caught with some. Returns the upstream ids of the tasks it held, with the moment
    each lease expires."""
    assert victim.proc is not None
    match = re.search(r"leases as (tracker-[0-9a-f]+)", victim.log())
    assert match, victim.log()
    held: list[Any] = []
    for _ in range(200):
        victim.proc.send_signal(signal.SIGSTOP)
        held = sql(
            cluster.database_url,
            "SELECT upstream_task_id, lease_until FROM tasks WHERE status IN "
            f"('queued', 'running') AND lease_owner = '{match.group(1)}' AND lease_until > now()",
        )
        if held:
            break
        victim.proc.send_signal(signal.SIGCONT)
        time.sleep(0.02)
    victim.kill()  # SIGKILL: no graceful stop, the leases it holds must expire
    assert victim.proc.returncode == -signal.SIGKILL
    return {upstream_id: until.timestamp() for upstream_id, until in held}


# -- roles and the start-up rule, on the pass's own store (SQLite or PostgreSQL) ----------


def reelgate(*args: str, data_dir: Path, url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reelgate", *args],
        env={**os.environ, "REELGATE_DATA_DIR": str(data_dir), "REELGATE_DATABASE_URL": url, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_replicas_and_workers_refuse_a_schema_that_is_not_current(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        for args in (("worker",), ("serve", "--no-worker", "--port", "1")):
            out = reelgate(*args, data_dir=tmp_path, url=url)
            assert out.returncode == 2, out.stdout + out.stderr
            assert "no reelgate schema yet" in out.stderr and "run `reelgate migrate`" in out.stderr
        assert reelgate("migrate", data_dir=tmp_path, url=url).returncode == 0
        # a worker on a current schema starts, and SIGTERM stops it gracefully
        worker = Server(tmp_path, url, command="worker").start()
        worker.stop()
        assert worker.proc is not None and worker.proc.returncode == 0, worker.log()
        assert "worker stopped" in worker.log()


def test_the_single_process_migrates_by_itself_unless_told_otherwise(tmp_path: Path) -> None:
    with fresh_database(tmp_path / "one") as url:
        args = ("serve", "--port", str(free_port()))
        out = reelgate(*args, data_dir=tmp_path, url=url, REELGATE_AUTO_MIGRATE="false")
        assert out.returncode == 2 and "run `reelgate migrate`" in out.stderr, out.stderr
        server = Server(tmp_path / "one", url).start()  # API and worker in one process
        try:
            ready = httpx.get(server.url + "/readyz", trust_env=False).json()
            assert ready["status"] == "ready" and ready["worker"] is True
        finally:
            server.stop()
    with fresh_database(tmp_path / "two") as url:
        env = {"REELGATE_AUTO_MIGRATE": "true"}
        replica = Server(tmp_path / "two", url, env=env, args=("--no-worker",)).start()
        replica.stop()


def test_an_api_replica_tracks_nothing_until_a_worker_runs(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        assert reelgate("migrate", data_dir=tmp_path, url=url).returncode == 0
        # the replica's built-in sandbox is the upstream; the worker reaches it there
        # a task is first due 0.1 s after its create (the tests' default is 0.3 s)
        replica = Server(tmp_path, url, env=FIRST_POLL, args=("--no-worker",)).start()
        try:
            with minimax(replica) as client:
                created = client.post("/video_generation", json=T2V).json()
                task_id = created["platform_id"]
                time.sleep(1)  # ten first polls' worth: nobody polls
                query = client.get("/query/video_generation", params={"task_id": task_id})
                assert query.json()["status"] in ("Preparing", "Queueing"), query.text
                rows = sql(url, f"SELECT poll_attempts FROM tasks WHERE platform_id = '{task_id}'")
                assert rows == [(0,)]
                worker = Server(
                    tmp_path,
                    url,
                    command="worker",
                    env={"REELGATE_PORT": str(replica.port), **FIRST_POLL},
                ).start()
                try:
                    deadline = time.monotonic() + 60
                    status = ""
                    while time.monotonic() < deadline and status not in ("Success", "Fail"):
                        time.sleep(0.3)
                        status = client.get(
                            "/query/video_generation", params={"task_id": task_id}
                        ).json()["status"]
                    assert status == "Success"
                finally:
                    worker.stop()
        finally:
            replica.stop()
        # an API-only replica without Redis says that its limits are its own
        uses_redis = bool(os.environ.get("REELGATE_TEST_REDIS_URL"))
        assert ("REELGATE_REDIS_URL is not set" in replica.log()) != uses_redis
