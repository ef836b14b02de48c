"""``reelgate serve --workers 2``: two API processes on one port, the tracker once.

One gateway on a fresh store of the pass's kind (SQLite or PostgreSQL) and Redis, in front
of a standalone sandbox. What is checked is what /proc and the store show, not what the
gateway says about itself: the processes under the supervisor, the one listening socket
they all hold, the connections each child accepted, the tracker's lease owners, and that
nothing is left once it is stopped.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.support import SANDBOX_KEY, MiniMax, Server, fresh_database, redis_test_url
from tests.support import service_missing as missing

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

T2V = {"model": "T2V-01", "prompt": "a kite over a beach [Pan left]"}
Proc = tuple[int, str]  # (pid, start time): one process, even if its pid is recycled


@dataclass
class Gateway:
    server: Server
    database_url: str
    api_key: str


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (state first), or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def children(parent: int) -> list[Proc]:
    found = []
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and int(fields[1]) == parent and fields[0] not in ("Z", "X"):
            found.append((int(entry.name), fields[19]))
    return found


def alive(proc: Proc) -> bool:
    fields = _stat(proc[0])
    return fields is not None and fields[19] == proc[1] and fields[0] not in ("Z", "X")


def socket_inodes(pid: int) -> set[int]:
    """The sockets a process holds open."""
    out = set()
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir() if fds.exists() else ():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(int(target[8:-1]))
    return out


def tcp_sockets(port: int) -> dict[int, str]:
    """inode -> state ('0A' listening, '01' established) of the sockets on local ``port``."""
    out = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                out[int(fields[9])] = fields[3]
    return out


def require_redis() -> str:
    url = redis_test_url()
    try:
        with Redis.from_url(url, socket_timeout=2) as redis:
            redis.ping()
    except (RedisError, OSError) as exc:
        missing(f"Redis is not reachable at {url}: {exc}")
    return url


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    redis_url = require_redis()
    root = tmp_path_factory.mktemp("workers")
    sandbox = Server(
        root / "upstream",
        "unused",
        command="sandbox",
        env={
            "REELGATE_SANDBOX_API_KEYS": json.dumps([SANDBOX_KEY]),
            "REELGATE_SANDBOX_RPM": "0",
            "REELGATE_SANDBOX_TIMINGS": "1,1,2",  # in flight long enough to see its leases
            "REELGATE_SANDBOX_RENDER": "stub",
        },
    ).start()
    try:
        with fresh_database(root) as url:  # not migrated: the supervisor does it, once
            server = Server(
                root / "gateway",
                url,
                args=("--workers", "2"),
                env={
                    "REELGATE_SANDBOX_ENABLED": "false",
                    "REELGATE_MINIMAX_API_KEY": SANDBOX_KEY,
                    "REELGATE_MINIMAX_BASE_URL": sandbox.url,
                    "REELGATE_REDIS_URL": redis_url,
                    "REELGATE_REDIS_PREFIX": f"rgtest:workers-{uuid.uuid4().hex[:8]}:",
                },
                # the first start makes its own credentials and prints them: once
                unset=("REELGATE_ADMIN_TOKEN", "REELGATE_BOOTSTRAP_API_KEY"),
            ).start()
            try:
                key = re.findall(r"API key: +(\S+)", server.log())
                assert len(key) == 1, server.log()
                yield Gateway(server, url, key[0])
            finally:
                server.stop()
    finally:
        sandbox.stop()


def api_processes(gw: Gateway, timeout: float = 30) -> list[Proc]:
    """The supervisor's two children, once both hold the listening socket."""
    assert gw.server.proc is not None
    deadline = time.monotonic() + timeout
    while True:
        procs = children(gw.server.proc.pid)
        if len(procs) == 2 and all(listening(gw) & socket_inodes(p) for p, _ in procs):
            return procs
        assert time.monotonic() < deadline, (procs, gw.server.log())
        time.sleep(0.1)


def listening(gw: Gateway) -> set[int]:
    return {i for i, state in tcp_sockets(gw.server.port).items() if state == "0A"}


def test_the_supervisor_migrates_and_bootstraps_once(gateway: Gateway) -> None:
    deadline = time.monotonic() + 30
    while gateway.server.log().count("Application startup complete") < 2:  # both children
        assert time.monotonic() < deadline, gateway.server.log()
        time.sleep(0.1)
    log = gateway.server.log()
    assert log.count("Running upgrade  -> 0001") == 1, log
    assert log.count("first start, created the default account") == 1, log
    assert log.count("API key:") == 1, log


def test_two_api_processes_share_the_one_listening_socket(gateway: Gateway) -> None:
    assert gateway.server.proc is not None
    procs = api_processes(gateway)
    sockets = listening(gateway)
    assert len(sockets) == 1  # bound once, by the supervisor
    assert sockets <= socket_inodes(gateway.server.proc.pid)
    assert all(sockets <= socket_inodes(pid) for pid, _ in procs)
    # Connections are spread over both: open many at once, keep them open, and see from
    # /proc which process holds the accepted end of each.
    served: dict[int, int] = {}
    for _ in range(20):
        clients = [httpx.Client(base_url=gateway.server.url, trust_env=False) for _ in range(16)]
        try:
            with ThreadPoolExecutor(16) as pool:
                answers = list(pool.map(lambda c: c.get("/readyz").json()["status"], clients))
            assert answers == ["ready"] * 16
            accepted = {i for i, s in tcp_sockets(gateway.server.port).items() if s == "01"}
            for pid, _ in procs:
                served[pid] = served.get(pid, 0) + len(accepted & socket_inodes(pid))
        finally:
            for client in clients:
                client.close()
        if all(served.get(pid) for pid, _ in procs):
            break
    assert len(served) == 2 and all(served.values()), served


def test_tasks_complete_and_one_process_tracks_them(gateway: Gateway) -> None:
    owner = re.search(r"leases as (tracker-[0-9a-f]+)", gateway.server.log())
    assert owner, gateway.server.log()
    with MiniMax(gateway.server.url + "/minimaxi", gateway.api_key) as client:
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda _: client.create(T2V)["task_id"], range(16)))
        owners = asyncio.run(lease_owners(gateway.database_url, seconds=3))
        assert all(client.wait(i)["status"] == "Success" for i in ids)
    assert owners == {owner.group(1)}  # leases seen, and all of them the supervisor's


async def lease_owners(url: str, seconds: float) -> set[str]:
    """Every tracker that held a lease on a task while it was sampled, for ``seconds``."""
    engine = create_async_engine(url, poolclass=NullPool)
    seen: set[str] = set()
    try:
        async with engine.connect() as conn:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                rows = await conn.execute(
                    text("SELECT DISTINCT lease_owner FROM tasks WHERE lease_owner IS NOT NULL")
                )
                seen |= {r[0] for r in rows}
                await conn.commit()  # a fresh snapshot for the next look
                await asyncio.sleep(0.005)
    finally:
        await engine.dispose()
    return seen


def test_a_dead_api_process_is_replaced_and_sigterm_stops_everything(gateway: Gateway) -> None:
    server = gateway.server
    assert server.proc is not None
    before = api_processes(gateway)
    victim = before[0]
    os.kill(victim[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:  # the supervisor starts another in its place
        now = children(server.proc.pid)
        if len(now) == 2 and victim not in now:
            break
        assert time.monotonic() < deadline, (before, now, server.log())
        time.sleep(0.1)
    after = api_processes(gateway)
    assert httpx.get(server.url + "/readyz", trust_env=False).status_code == 200

    supervisor = (server.proc.pid, (_stat(server.proc.pid) or [""] * 20)[19])
    server.stop(signal.SIGTERM)
    assert server.proc.returncode == 0, server.log()[-3000:]
    assert "reelgate serve stopped" in server.log()
    assert not [p for p in [supervisor, *after] if alive(p)]
    assert not listening(gateway)  # the port is free again
