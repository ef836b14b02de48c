"""The gateways' stores as a benchmark fills and reads them: which tasks to ask for, the
store seeded up to a size in SQL, and a fresh PostgreSQL database per run."""

from __future__ import annotations

import contextlib
import random
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator, Sequence

import httpx

from config import CREATE_BODY, PG_ADMIN_URL
from procs import Unavailable
from targets import Target


def query_ids(
    op: str, targets: Sequence[Target], store_tasks: int
) -> dict[str, str] | dict[str, list[str]]:
    """What each target is asked for: one task (query), many in turn (query-distinct)."""
    if op == "query-distinct":
        return distinct_ids(targets, store_tasks)
    return task_ids(targets, store_tasks if op == "query" else 0)


def task_ids(targets: Sequence[Target], store_tasks: int = 0) -> dict[str, str]:
    """One new task per target to query (the newest in its store, as a client polling its
    latest task would ask for); each gateway's store first filled up to ``store_tasks``
    tasks of the same account. LiteLLM passes the sandbox's own id through."""
    for target in targets:
        if target.store:
            seed_tasks(target, store_tasks)
    ids = {t.name: t.create_task() for t in targets if t.name != "litellm"}
    ids["litellm"] = ids["direct"]
    return ids


def distinct_ids(
    targets: Sequence[Target], store_tasks: int, direct_tasks: int = 2000
) -> dict[str, list[str]]:
    """Many task ids per target, to ask for a different task at each request (no cache
    helps): every task of each gateway's store, and ``direct_tasks`` made on the sandbox
    (which LiteLLM passes through)."""
    out: dict[str, list[str]] = {}
    for target in targets:
        if target.store:
            seed_tasks(target, store_tasks)
            out[target.name] = _sql_column(
                target, "SELECT upstream_task_id FROM tasks WHERE upstream_task_id IS NOT NULL"
            )
        elif target.name == "direct":
            with httpx.Client(headers=target.headers, timeout=30, trust_env=False) as client:
                out["direct"] = [
                    str(client.post(target.create_url, json=CREATE_BODY).json()["task_id"])
                    for _ in range(direct_tasks)
                ]
    for ids in out.values():  # the cost of a lookup may depend on the task's age
        random.Random(7).shuffle(ids)
    if "direct" in out:
        out["litellm"] = out["direct"]
    return out


def _sql_column(target: Target, sql: str) -> list[str]:
    if target.store.startswith("postgresql"):
        url = target.store.replace("+asyncpg", "")
        done = subprocess.run(  # on stdin: a seed's statement outgrows an argument
            ["psql", url, "-qtA", "-v", "ON_ERROR_STOP=1"],
            input=sql,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.split()
    with contextlib.closing(sqlite3.connect(target.store, timeout=30)) as db:
        return [str(row[0]) for row in db.execute(sql)]


def store_count(target: Target) -> int:
    """How many tasks the gateway's store holds."""
    return int(_sql(target, "SELECT count(*) FROM tasks") or 0)


def seed_tasks(target: Target, total: int) -> int:
    """Fill the store up to ``total`` tasks by copying its newest one in SQL (new ids), as
    if the account had made that many before; the API would take minutes. Returns the
    number of tasks in the store."""
    have = store_count(target)
    if have >= total:
        return have
    if not have:
        target.create_task()
        have = 1
    cols = [c for c in _columns(target) if c not in ("id", "platform_id", "upstream_task_id")]
    names = ", ".join(cols)
    if target.store.startswith("postgresql"):
        sql = (
            f"INSERT INTO tasks ({names}, platform_id, upstream_task_id) "
            f"SELECT {', '.join('t.' + c for c in cols)}, 'video_seed' || lpad(i::text, 20, '0'),"
            f" '9' || lpad(i::text, 18, '0') FROM generate_series({have}, {total - 1}) AS i, "
            "(SELECT * FROM tasks ORDER BY id LIMIT 1) AS t"
        )
    else:
        sql = (
            f"WITH RECURSIVE n(i) AS (SELECT {have} UNION ALL SELECT i + 1 FROM n "
            f"WHERE i < {total - 1}) "
            f"INSERT INTO tasks ({names}, platform_id, upstream_task_id) "
            f"SELECT {', '.join('t.' + c for c in cols)}, printf('video_seed%020d', i), "
            "printf('9%018d', i) FROM n, (SELECT * FROM tasks ORDER BY id LIMIT 1) AS t"
        )
    _sql(target, sql)
    return store_count(target)


def _columns(target: Target) -> list[str]:
    if target.store.startswith("postgresql"):
        out = _sql(
            target,
            "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) "
            "FROM information_schema.columns WHERE table_name = 'tasks'",
        )
        return out.split(",")
    with contextlib.closing(sqlite3.connect(target.store, timeout=30)) as db:
        return [row[1] for row in db.execute("PRAGMA table_info(tasks)")]


def _sql(target: Target, sql: str) -> str:
    """Run one statement on the gateway's store; the first value of the answer, if any."""
    if target.store.startswith("postgresql"):
        url = target.store.replace("+asyncpg", "")
        done = subprocess.run(  # on stdin: a seed's statement outgrows an argument
            ["psql", url, "-qtA", "-v", "ON_ERROR_STOP=1"],
            input=sql,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip().split("\n")[0] if done.stdout.strip() else ""
    with contextlib.closing(sqlite3.connect(target.store, timeout=30)) as db, db:
        row = db.execute(sql).fetchone()
        return str(row[0]) if row else ""


@contextlib.contextmanager
def fresh_postgres() -> Iterator[str]:
    """A new, empty PostgreSQL database on the local server, dropped afterwards."""
    if shutil.which("psql") is None:
        raise Unavailable("psql is not installed")
    name = f"rg_bench_{uuid.uuid4().hex[:10]}"
    made = subprocess.run(
        ["psql", PG_ADMIN_URL, "-qc", f"CREATE DATABASE {name}"], capture_output=True, text=True
    )
    if made.returncode != 0:
        raise Unavailable(f"PostgreSQL at {PG_ADMIN_URL}: {made.stderr.strip()}")
    try:
        yield (
            PG_ADMIN_URL.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0]
            + f"/{name}"
        )
    finally:
        subprocess.run(
            ["psql", PG_ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
            capture_output=True,
        )
