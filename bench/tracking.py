"""The tracker's cost per upstream poll: ``bench/freshness.py --case tracking``.

N tasks in flight, made on a standalone sandbox (its timings keep them Processing) and
seeded into the gateway's store in SQL as running, at the poll cap, due spread over one
cap; the gateway (``reelgate serve``, SQLite or a fresh PostgreSQL database) tracks them.
Over a window the bench counts the sandbox's queries (polls/s), the gateway's CPU from
/proc (ms per poll, the share of a core), the tasks left unpolled longer than the cap
and, on PostgreSQL, the rows of ``tasks`` updated per poll (pg_stat).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import httpx

from stores import _sql, fresh_postgres
from targets import Target

TIMINGS = "1,1,1000000"  # Preparing, Queueing, Processing: running for the whole run
LATE_S = 1.0  # past the cap by more than this: the tracker's rounds are 0.2 s apart


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sandbox_tasks(sandbox_url: str, key: str, n: int) -> list[str]:
    headers = {"Authorization": f"Bearer {key}"}
    body = {"model": "T2V-01", "prompt": "tracking"}
    with httpx.Client(base_url=sandbox_url, headers=headers, trust_env=False, timeout=60) as c:
        return [str(c.post("/v1/video_generation", json=body).json()["task_id"]) for _ in range(n)]


def seed(target: Target, upstream_ids: list[str], cap: float) -> None:
    """Copies of the gateway's one task, one per sandbox task: running, at the cap
    (``poll_attempts`` 30), due spread evenly over the next cap."""
    cols = [
        c
        for c in _columns(target)
        if c
        not in (
            "id",
            "platform_id",
            "upstream_task_id",
            "status",
            "upstream_status",
            "poll_attempts",
            "next_poll_at",
        )
    ]
    values = ", ".join(f"('{u}', {i})" for i, u in enumerate(upstream_ids))
    step = cap / max(1, len(upstream_ids))
    if target.store.startswith("postgresql"):
        due = f"now() + make_interval(secs => u.i * {step})"
        pid = "'video_trk' || lpad(u.i::text, 20, '0')"
    else:
        due = f"strftime('%Y-%m-%d %H:%M:%f', 'now', '+' || (u.i * {step}) || ' seconds')"
        pid = "printf('video_trk%020d', u.i)"
    _sql(
        target,
        f"WITH u(uid, i) AS (VALUES {values}) "
        f"INSERT INTO tasks ({', '.join(cols)}, platform_id, upstream_task_id, status, "
        "upstream_status, poll_attempts, next_poll_at) "
        f"SELECT {', '.join('t.' + c for c in cols)}, {pid}, u.uid, 'running', 'Processing', "
        f"30, {due} FROM u, (SELECT * FROM tasks ORDER BY id LIMIT 1) AS t",
    )


def _columns(target: Target) -> list[str]:
    from stores import _columns as columns

    return columns(target)


def rows_updated(target: Target) -> int | None:
    if not target.store.startswith("postgresql"):
        return None
    return int(_sql(target, "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname='tasks'"))


def measure(
    target: Target, pid: int, sandbox_url: str, key: str, window: float, cap: float
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=sandbox_url, headers=headers, trust_env=False) as sb:
        time.sleep(cap)  # the first round of polls (and claims) is over
        t0, cpu0, upd0 = time.time(), cpu_s(pid), rows_updated(target)
        time.sleep(window)
        t1, cpu1, upd1 = time.time(), cpu_s(pid), rows_updated(target)
        calls = sb.get("/_control/requests", params={"since": t0 - cap}).json()
    queries = [e for e in calls if e["endpoint"] == "query"]
    polls = sum(1 for e in queries if t0 <= e["t"] < t1)
    last: dict[str, float] = {}
    late = set()
    for e in sorted(queries, key=lambda e: e["t"]):
        before = last.get(e["task_id"], t0 - cap)
        if e["t"] >= t0 and e["t"] - before > cap + LATE_S:
            late.add(e["task_id"])
        last[e["task_id"]] = e["t"]
    late |= {t for t, at in last.items() if t1 - at > cap + LATE_S}
    cpu = cpu1 - cpu0
    result: dict[str, Any] = {
        "database": target.name,
        "window_s": round(t1 - t0, 1),
        "polls": polls,
        "polls_per_s": round(polls / (t1 - t0), 1),
        "cpu_ms_per_poll": round(1000 * cpu / max(1, polls), 3),
        "core_share": round(cpu / (t1 - t0), 3),
        "tasks_polled": len(last),
        "unpolled_past_cap": len(late),
    }
    if upd0 is not None and upd1 is not None:
        result["task_rows_updated_per_poll"] = round((upd1 - upd0) / max(1, polls), 3)
    return result


@contextlib.contextmanager
def database(kind: str) -> Any:
    if kind == "postgres":
        with fresh_postgres() as url:
            yield url
    else:
        yield None
