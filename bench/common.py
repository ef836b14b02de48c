"""What every benchmark shares: the targets as real processes, CPU placement, the load
generator (wrk), percentiles, Markdown tables and the JSON written to bench/results/.

The targets are started the way a user starts them (``reelgate sandbox``, ``reelgate
serve``, ``litellm``), with their data in a temporary directory, and are stopped (with
any process they left behind) when the benchmark ends, however it ends.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PYTHON = sys.executable  # the project's venv: run the benches with .venv/bin/python

SANDBOX_KEY = "bench-key"
API_KEY = "sk-bench-0123456789abcdefghijklmnopqrstuv"
ADMIN_TOKEN = "rg-admin-bench-token"
LITELLM_KEY = "sk-litellm-bench"
LITELLM_VERSION = "1.106.2"
LITELLM_VENV = BENCH / ".venv-litellm"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"

CREATE_BODY = {"model": "T2V-01", "prompt": "A lighthouse on a cliff at dusk [Pan left]"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


SOURCE: dict[str, str] = {}  # which reelgate ran, when not the working tree


class Unavailable(RuntimeError):
    """A target that cannot be run here; the message says exactly why."""


# -- processes ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    out: list[int] = []
    for tid in tasks:
        with contextlib.suppress(OSError):
            out += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
    return out


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def start_time(pid: int) -> int:
    """When a process started (clock ticks after boot); 0 if it is gone."""
    with contextlib.suppress(OSError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system time of one process (all its threads, live or exited), from /proc."""
    return cpu_seconds_of(f"/proc/{pid}/stat")


def cpu_seconds_of(stat_path: str) -> float:
    with contextlib.suppress(OSError):
        fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    return 0.0


def busy_seconds() -> float:
    """CPU time the whole machine spent busy (all CPUs, all processes, interrupts)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def main_thread_cpu_s(pid: int) -> float:
    """User + system time of a process's main thread."""
    return cpu_seconds_of(f"/proc/{pid}/task/{pid}/stat")


@dataclass
class Proc:
    """One target process (with whatever it spawns), its log file and its readiness URL."""

    name: str
    argv: list[str]
    env: dict[str, str]
    ready_url: str
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    ready_s: float = 0.0
    cpus: frozenset[int] | None = None  # where it starts (the bench itself is elsewhere)
    _seen: dict[int, int] = field(default_factory=dict)  # pid -> start time

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self, timeout: float = 120.0, poll_s: float = 0.02) -> float:
        """Start it and wait for its readiness URL to answer 200; the seconds that took."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            t0 = time.perf_counter()
            self.popen = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
            )
        if self.cpus is not None:
            set_affinity(self.popen.pid, self.cpus)
        deadline = t0 + timeout
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.perf_counter() < deadline:
                if self.popen.poll() is not None:
                    raise Unavailable(f"{self.name} exited early:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.ready_url).status_code == 200:
                        self.ready_s = time.perf_counter() - t0
                        return self.ready_s
                time.sleep(poll_s)
        self.stop()
        raise Unavailable(f"{self.name} did not get ready in {timeout:.0f} s:\n{self.log_tail()}")

    def tree(self) -> list[int]:
        pids = [self.pid, *descendants(self.pid)]
        for pid in pids[1:]:
            self._seen.setdefault(pid, start_time(pid))
        return pids

    def rss_kib(self, *, tree: bool = True) -> int:
        return sum(rss_kib(p) for p in (self.tree() if tree else [self.pid]))

    def cpu_s(self) -> float:
        return cpu_seconds(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL; then end what it spawned and left behind (render workers)."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.tree()  # remember its children before they are orphaned
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        time.sleep(0.2)
        for pid, started in sorted(self._seen.items()):
            if started and start_time(pid) == started:  # the same process, not a reused pid
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        self._seen.clear()


# -- CPU placement --------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Which CPUs the target under test gets and which the load generator gets.

    The upstream sandbox, when it is not itself the target, sits with the load generator
    (as if it were another machine), and the sandbox's render workers run there too at
    SCHED_IDLE, so that they only use CPU time nobody else wants.
    """

    target: frozenset[int] | None
    load: frozenset[int] | None
    renders: str = "idle"  # idle (SCHED_IDLE), normal, or paused (SIGSTOP)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Placement:
        renders = getattr(args, "renders", "idle")
        if not args.pin or len(os.sched_getaffinity(0)) < 2:
            return cls(None, None, renders)
        return cls(frozenset(args.target_cpus), frozenset(args.load_cpus), renders)

    def describe(self) -> dict[str, Any]:
        def cpus(s: frozenset[int] | None) -> str:
            return ",".join(map(str, sorted(s))) if s else "any"

        return {
            "pinned": self.target is not None,
            "target_cpus": cpus(self.target),
            "load_cpus": cpus(self.load),
            "load_generator": f"wrk (1 thread) and the bench's own Python on CPU {cpus(self.load)}",
            "upstream_sandbox": f"CPU {cpus(self.load)} when it is not the target",
            "sandbox_renders": f"CPU {cpus(self.load)}, " + _RENDERS[self.renders],
            "postgresql": "not pinned (a system service: its backends run on any CPU)",
            "cpus_online": os.cpu_count(),
        }


_RENDERS = {
    "idle": "SCHED_IDLE (they only get CPU time nobody else wants)",
    "normal": "normal priority (they compete with everything else)",
    "paused": "stopped with SIGSTOP while measuring (a render queue that has not started)",
}


def set_affinity(pid: int, cpus: Iterable[int] | None) -> None:
    """Pin every thread of a process (affinity is per thread on Linux)."""
    if cpus is None:
        cpus = range(os.cpu_count() or 1)
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(tid), set(cpus))


def set_idle(pid: int) -> None:
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                os.sched_setscheduler(int(tid), os.SCHED_IDLE, os.sched_param(0))


class RenderTamer:
    """Keeps a sandbox's render workers (spawned on demand) where the placement says."""

    def __init__(self, sandbox: Proc, placement: Placement) -> None:
        self._sandbox = sandbox
        self._placement = placement
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="render-tamer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            if self._sandbox.popen is None or self._sandbox.popen.poll() is not None:
                return
            for pid in self._sandbox.tree()[1:]:
                if self._placement.renders == "paused":
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGSTOP)
                elif self._placement.renders == "idle":
                    set_idle(pid)
                if self._placement.load is not None:
                    set_affinity(pid, self._placement.load)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        if self._placement.renders == "paused" and self._sandbox.popen is not None:
            for pid in self._sandbox.tree()[1:]:  # let them see the shutdown
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGCONT)


# -- targets ----------------------------------------------------------------------------


@dataclass
class Target:
    """Something that answers MiniMax's v1 API: its base URL, the key it wants, its process."""

    name: str
    base: str  # up to and including /v1
    api_key: str
    proc: Proc
    note: str = ""
    store: str = ""  # the gateway's database: a SQLite file or a PostgreSQL URL

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}

    @property
    def create_url(self) -> str:
        return f"{self.base}/video_generation"

    def query_url(self, task_id: str) -> str:
        return f"{self.base}/query/video_generation?task_id={task_id}"

    def query_path(self, task_id: str) -> str:
        return "/" + self.query_url(task_id).split("/", 3)[3]

    def create_task(self) -> str:
        """Create one task and return its task_id (for the query benchmarks)."""
        resp = httpx.post(self.create_url, headers=self.headers, json=CREATE_BODY, timeout=30)
        data = resp.json()
        if resp.status_code != 200 or data.get("base_resp", {}).get("status_code") != 0:
            raise Unavailable(f"{self.name}: create failed: {resp.status_code} {resp.text}")
        return str(data["task_id"])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a target: none of ours REELGATE_*, and bytecode caching on (a
    deployment has its .pyc files; compiling at every start would count in its start)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELGATE_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra)
    return env


class Lab(contextlib.ExitStack):
    """Starts targets in a temporary directory and stops them all on exit."""

    def __init__(
        self, placement: Placement, keep_logs: bool = False, rev: str | None = None
    ) -> None:
        super().__init__()
        self.placement = placement
        self.tmp = Path(tempfile.mkdtemp(prefix="reelgate-bench-"))
        self.procs: list[Proc] = []
        if keep_logs:
            log(f"logs and data stay in {self.tmp}")
        else:
            self.callback(shutil.rmtree, self.tmp, True)
        self.src = export_source(rev, self.tmp / "source") if rev else None
        if placement.load is not None:  # the bench itself is load: keep it off the target
            os.sched_setaffinity(0, placement.load)

    def _proc(self, name: str, argv: list[str], env: dict[str, str], ready: str) -> Proc:
        if self.src is not None and argv[0] == PYTHON:  # reelgate from the exported revision
            env["PYTHONPATH"] = str(self.src)
        proc = Proc(name, argv, env, ready, self.tmp / "logs" / f"{name}.log")
        proc.cpus = self.placement.target
        self.callback(proc.stop)
        self.procs.append(proc)
        return proc

    def sandbox(
        self,
        *,
        timings: str = "realistic",
        render_workers: int = 1,
        name: str = "sandbox",
        extra_keys: Sequence[str] = (),
    ) -> Target:
        """``reelgate sandbox``; ``extra_keys``: more keys it accepts (other accounts)."""
        port = free_port()
        env = clean_env(
            REELGATE_DATA_DIR=str(self.tmp / name),
            REELGATE_SANDBOX_API_KEYS=json.dumps([SANDBOX_KEY, *extra_keys]),
            REELGATE_SANDBOX_TIMINGS=timings,
            REELGATE_SANDBOX_RENDER_WORKERS=str(render_workers),
            REELGATE_SANDBOX_RPM="0",  # standalone it limits each key to MiniMax's 20 RPM
        )
        argv = [PYTHON, "-m", "reelgate", "sandbox", "--port", str(port), "--log-level", "warning"]
        proc = self._proc(name, argv, env, f"http://127.0.0.1:{port}/docs")
        proc.start()
        tamer = RenderTamer(proc, self.placement)
        self.callback(tamer.close)
        return Target("direct", f"http://127.0.0.1:{port}/v1", SANDBOX_KEY, proc)

    def gateway(
        self,
        upstream: Target | None,
        *,
        database: str = "sqlite",
        name: str = "reelgate",
        extra_env: Mapping[str, str] | None = None,
    ) -> Target:
        """``reelgate serve`` in front of ``upstream`` (None: with its sandbox mounted).

        The tracker's first poll is an hour away, so that only the request path is
        measured (with realistic sandbox timings no task would finish anyway).
        """
        port = free_port()
        data = self.tmp / name
        env = clean_env(
            REELGATE_DATA_DIR=str(data),
            REELGATE_BOOTSTRAP_API_KEY=API_KEY,
            REELGATE_BOOTSTRAP_BALANCE=str(10**15),
            REELGATE_ADMIN_TOKEN=ADMIN_TOKEN,
            REELGATE_POLL_INITIAL_S="3600",
            REELGATE_POLL_MAX_S="3600",
        )
        if upstream is None:
            env.update(
                REELGATE_SANDBOX_API_KEYS=json.dumps([SANDBOX_KEY]),
                REELGATE_SANDBOX_TIMINGS="realistic",
            )
        else:
            env.update(
                REELGATE_SANDBOX_ENABLED="false",
                REELGATE_MINIMAX_API_KEY=upstream.api_key,
                REELGATE_MINIMAX_BASE_URL=upstream.base.removesuffix("/v1"),
            )
        store = str(data / "reelgate.db")
        if database == "postgres":
            env["REELGATE_DATABASE_URL"] = store = self.enter_context(fresh_postgres())
        env.update(extra_env or {})
        argv = [PYTHON, "-m", "reelgate", "serve", "--port", str(port)]
        proc = self._proc(name, argv, env, f"http://127.0.0.1:{port}/readyz")
        proc.start()
        if upstream is None:
            tamer = RenderTamer(proc, self.placement)
            self.callback(tamer.close)
        base = f"http://127.0.0.1:{port}/minimaxi/v1"
        return Target(name, base, API_KEY, proc, database, store)

    def litellm(self, upstream: Target) -> Target:
        """LiteLLM's proxy, one worker, a pass-through endpoint to the sandbox.

        It checks its own master key on every request (``auth: true``) and sets the
        sandbox's key itself, as reelgate does with its own keys.
        """
        exe = ensure_litellm()
        port = free_port()
        config = self.tmp / "litellm.yaml"
        spec = {
            "general_settings": {
                "master_key": LITELLM_KEY,
                "pass_through_endpoints": [
                    {
                        "path": "/minimaxi/v1",
                        "target": upstream.base,
                        "include_subpath": True,
                        "auth": True,
                        "headers": {"Authorization": f"Bearer {upstream.api_key}"},
                    }
                ],
            }
        }
        config.write_text(json.dumps(spec, indent=2))  # JSON is YAML
        env = clean_env(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_TELEMETRY="False")
        argv = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--num_workers", "1"]
        proc = self._proc("litellm", argv, env, f"http://127.0.0.1:{port}/health/liveliness")
        proc.start(timeout=180)
        return Target(
            "litellm", f"http://127.0.0.1:{port}/minimaxi/v1", LITELLM_KEY, proc, LITELLM_VERSION
        )

    def own_cpu_s(self) -> float:
        """CPU time of everything this benchmark runs: targets, their children, wrk, itself."""
        me = resource.getrusage(resource.RUSAGE_SELF)
        total = me.ru_utime + me.ru_stime + _children_cpu_s()
        for proc in self.procs:
            if proc.popen is not None and proc.popen.poll() is None:
                total += sum(cpu_seconds(p) for p in proc.tree())
        return total

    def wait_quiet(self, threshold: float, max_wait: float) -> float:
        """Wait (up to ``max_wait`` s) until processes outside the benchmark use less than
        ``threshold`` CPUs; the machine is shared. Returns what they used last."""
        deadline = time.monotonic() + max_wait
        while True:
            busy0, own0 = busy_seconds(), self.own_cpu_s()
            time.sleep(0.5)
            other = ((busy_seconds() - busy0) - (self.own_cpu_s() - own0)) / 0.5
            if other < threshold or time.monotonic() >= deadline:
                if other >= threshold:
                    log(f"  the machine is busy ({other:.2f} CPUs used by others); going on")
                return other

    def run(
        self,
        target: Target,
        op: str,
        connections: int,
        duration: int,
        task_id: str | Sequence[str] = "",
        quiet: tuple[float, float] | None = None,
    ) -> Load:
        """Put ``target`` on the target CPUs and load it with wrk: create, or query one
        task (``task_id`` a string) or many in turn (a list of ids)."""
        self.place(target)
        if quiet is not None:
            self.wait_quiet(*quiet)
        create = op == "create"
        ids = [task_id] if isinstance(task_id, str) else list(task_id)
        return wrk(
            target.create_url if create else target.query_url(ids[0]),
            paths=[] if create or len(ids) < 2 else [target.query_path(i) for i in ids],
            method="POST" if create else "GET",
            body=CREATE_BODY if create else None,
            connections=connections,
            duration=duration,
            headers=target.headers,
            cpus=self.placement.load,
            watch=target.proc,
            script_dir=self.tmp,
            own_cpu=self.own_cpu_s,
        )

    def place(self, target: Target | None) -> None:
        """Give ``target`` the target CPUs and move every other process to the load CPUs;
        with None, every target on the target CPUs (one request at a time)."""
        if self.placement.target is None:
            return
        for proc in self.procs:
            if proc.popen is not None and proc.popen.poll() is None:
                ours = target is None or proc is target.proc
                set_affinity(proc.pid, self.placement.target if ours else self.placement.load)


def export_source(rev: str, into: Path) -> Path:
    """The reelgate package of a committed revision (``git archive``), to run instead of
    the working tree: other people's half-made edits cannot then break a run."""
    into.mkdir(parents=True)
    sha = subprocess.run(
        ["git", "rev-parse", "--short", rev], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    SOURCE["reelgate_source"] = f"{sha} (git archive of --rev {rev})"
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "src"], capture_output=True, cwd=ROOT
    )
    if archive.returncode != 0:
        raise SystemExit(f"git archive {rev}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(into / "src")], check=True)
    return into / "src"


def start_targets(
    lab: Lab,
    databases: Sequence[str],
    litellm: bool,
    *,
    timings: str = "realistic",
    render_workers: int = 1,
    extra_sandbox_keys: Sequence[str] = (),
) -> tuple[list[Target], dict[str, str]]:
    """The sandbox, a gateway per store in front of it, LiteLLM in front of it too; and,
    for any that could not run, exactly why."""
    skipped: dict[str, str] = {}
    sandbox = lab.sandbox(
        timings=timings, render_workers=render_workers, extra_keys=extra_sandbox_keys
    )
    targets = [sandbox]
    for db in databases:
        name = "reelgate" if db == "sqlite" else f"reelgate-{db}"
        try:
            targets.append(lab.gateway(sandbox, database=db, name=name))
        except Unavailable as exc:
            skipped[name] = str(exc)
    if litellm:
        try:
            targets.append(lab.litellm(sandbox))
        except Unavailable as exc:
            skipped["litellm"] = str(exc)
    for name, why in skipped.items():
        log(f"{name} skipped: {why}")
    return targets, skipped


def query_ids(
    op: str, targets: Sequence[Target], store_tasks: int
) -> dict[str, str] | dict[str, list[str]]:
    """What each target is asked for: one task (query), many in turn (query-distinct)."""
    if op == "query-distinct":
        return distinct_ids(targets, store_tasks)
    return task_ids(targets, store_tasks if op == "query" else 0)


OPS_HELP = (
    "operations, in this order: query (one task, asked again and again, as a client "
    "polls; a cache serves it), query-distinct (a different task at each request: "
    "every task of the store in turn), create"
)


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
        done = subprocess.run(
            ["psql", url, "-qtAc", sql], capture_output=True, text=True, check=True
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
        done = subprocess.run(
            ["psql", url, "-qtAc", sql], capture_output=True, text=True, check=True
        )
        return done.stdout.strip().split("\n")[0] if done.stdout.strip() else ""
    with contextlib.closing(sqlite3.connect(target.store, timeout=30)) as db, db:
        row = db.execute(sql).fetchone()
        return str(row[0]) if row else ""


def ensure_litellm(version: str = LITELLM_VERSION) -> Path:
    """LiteLLM's proxy in its own virtual environment (bench/.venv-litellm), installed once."""
    exe = LITELLM_VENV / "bin" / "litellm"
    stamp = LITELLM_VENV / f".installed-{version}"
    if exe.exists() and stamp.exists():
        return exe
    print(f"installing litellm[proxy]=={version} into {LITELLM_VENV} ...", file=sys.stderr)
    packages = ["--upgrade", "pip", f"litellm[proxy]=={version}"]
    steps = [
        [sys.executable, "-m", "venv", str(LITELLM_VENV)],
        [str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *packages],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            raise Unavailable(f"could not install litellm[proxy]=={version}: {tail}")
    stamp.touch()
    return exe


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


# -- load -------------------------------------------------------------------------------

_WRK_SCRIPT = """
wrk.method = "{method}"
wrk.body = {body}
{headers}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
bad = 0
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"status_code":0', 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local nbad = 0
  for _, t in ipairs(threads) do nbad = nbad + t:get("bad") end
  local e = summary.errors
  local parts = {{}}
  for i = 1, #latency do
    local v, c = latency(i)
    parts[#parts + 1] = string.format("[%d,%d]", v, c)
  end
  io.write(string.format(
    'WRKJSON {{"requests":%d,"duration_us":%d,"socket_errors":%d,"bad":%d,"hist":[%s]}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, nbad,
    table.concat(parts, ",")))
end
"""


_WRK_PATHS = """
local paths = {
PATHS
}
local n = 0
function init(args) math.randomseed(os.time()); n = math.random(#paths) end
function request()
  n = n % #paths + 1
  return wrk.format(nil, paths[n])
end
"""


@dataclass
class Load:
    """What one or several load runs against one target measured."""

    requests: int = 0
    seconds: float = 0.0
    errors: int = 0
    hist: Counter[int] = field(default_factory=Counter)  # latency in microseconds -> count
    hist_wrk: Counter[int] = field(default_factory=Counter)  # the same, as wrk corrects it
    load_cpu_s: float = 0.0  # the load generator's own CPU time
    target_cpu_s: float = 0.0  # the target process's CPU time (not its render workers)
    other_cpu_s: float = 0.0  # CPU time of everything outside this benchmark (other users)

    def __iadd__(self, other: Load) -> Load:
        self.requests += other.requests
        self.seconds += other.seconds
        self.errors += other.errors
        self.hist.update(other.hist)
        self.hist_wrk.update(other.hist_wrk)
        self.load_cpu_s += other.load_cpu_s
        self.target_cpu_s += other.target_cpu_s
        self.other_cpu_s += other.other_cpu_s
        return self

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        """The target's CPU time per request: what others' load on the machine barely moves,
        and 1000 / it is the rate one core could sustain if the target had it alone."""
        return 1000 * self.target_cpu_s / self.requests if self.requests else float("nan")

    def ms(self, q: float) -> float:
        return percentile(self.hist, q) / 1000

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "errors": self.errors,
            "error_rate": round(self.error_rate, 5),
            "p50_ms": round(self.ms(50), 3),
            "p90_ms": round(self.ms(90), 3),
            "p99_ms": round(self.ms(99), 3),
            "max_ms": round(max(self.hist, default=0) / 1000, 3),
            "p99_ms_wrk": round(percentile(self.hist_wrk, 99) / 1000, 3),
            "load_generator_cpu": round(self.load_cpu_s / self.seconds, 3) if self.seconds else 0,
            "target_cpu": round(self.target_cpu_s / self.seconds, 3) if self.seconds else 0,
            "target_cpu_ms_per_request": round(self.cpu_ms_per_request, 3),
            "other_cpu": round(self.other_cpu_s / self.seconds, 3) if self.seconds else 0,
        }


def percentile(hist: Mapping[int, int], q: float) -> float:
    """The q-th percentile (nearest rank) of a histogram {value: count}."""
    total = sum(hist.values())
    if not total:
        return float("nan")
    rank = max(1, -(-q * total // 100))
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return float(value)
    return float(max(hist))


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def wrk(
    url: str,
    *,
    connections: int,
    duration: float,
    headers: Mapping[str, str],
    method: str = "GET",
    body: Any = None,
    cpus: Iterable[int] | None = None,
    watch: Proc | None = None,
    script_dir: Path | None = None,
    own_cpu: Callable[[], float] | None = None,
    paths: Sequence[str] = (),
) -> Load:
    """One wrk run (one thread, ``connections`` keep-alive connections, closed loop).

    A response counts as an error unless it is HTTP 200 with ``"status_code":0`` in the
    body: MiniMax reports errors as HTTP 200 with a non-zero ``base_resp.status_code``.
    """
    lua_headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    lua_body = "nil" if body is None else f"[==[{json.dumps(body)}]==]"
    script = _WRK_SCRIPT.format(method=method, body=lua_body, headers=lua_headers)
    if paths:  # each request asks for the next path of the list, from a random start
        listed = ",\n".join(f'"{p}"' for p in paths)
        script += _WRK_PATHS.replace("PATHS", listed)
    fd, script_path = tempfile.mkstemp(suffix=".lua", dir=script_dir)
    with os.fdopen(fd, "w") as f:
        f.write(script)
    seconds = max(1, round(duration))  # wrk takes whole seconds
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s"]
    argv += ["-s", script_path, url]
    if cpus is not None:
        argv = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *argv]
    cpu0, target0 = _children_cpu_s(), watch.cpu_s() if watch else 0.0
    busy0, own0 = busy_seconds(), own_cpu() if own_cpu else 0.0
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    finally:
        os.unlink(script_path)
    target_cpu = (watch.cpu_s() - target0) if watch else 0.0
    load_cpu = _children_cpu_s() - cpu0
    other_cpu = (busy_seconds() - busy0) - (own_cpu() - own0) if own_cpu else 0.0
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("WRKJSON "))
    corrected = Counter({int(v): int(c) for v, c in data["hist"]})
    return Load(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        errors=data["bad"] + data["socket_errors"],
        hist=uncorrect(corrected, data["duration_us"], data["requests"], connections),
        hist_wrk=corrected,
        load_cpu_s=load_cpu,
        target_cpu_s=target_cpu,
        other_cpu_s=max(0.0, other_cpu),
    )


def uncorrect(hist: Mapping[int, int], runtime_us: int, complete: int, conns: int) -> Counter[int]:
    """Undo wrk's coordinated-omission correction: the latencies the clients really saw.

    wrk 4 adds, for every sample of latency n >= 2e (e: the mean interval between two
    requests of one connection), synthetic samples at n-e, n-2e, ... while above e, as an
    open-loop client would have waited. One 100 ms pause then weighs like hundreds of
    slow requests. We report what the closed-loop clients measured, as the sequential
    client does; the corrected histogram is kept in the JSON as ``p99_ms_wrk``.
    """
    per_conn = complete // conns if conns else 0
    if per_conn <= 0 or runtime_us // per_conn <= 0:
        return Counter(hist)
    e = runtime_us // per_conn
    raw: Counter[int] = Counter()
    added: Counter[int] = Counter()
    for value in sorted(hist, reverse=True):
        count = hist[value] - added.pop(value, 0)
        raw[value] = count
        if value >= 2 * e and count > 0:
            m = value - e
            while m > e:
                added[m] += count
                m -= e
    return +raw


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")


# -- output -----------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table; numbers are right-aligned."""
    body = [[_cell(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
    numeric = [all(_is_number(r[i]) for r in body) and bool(body) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        )
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if n else ("-" * (w + 2))
            for w, n in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(r) for r in body)])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def _is_number(text: str) -> bool:
    return bool(re.fullmatch(r"[+-]?\d+(\.\d+)?%?|-", text))


def signed(ms: float) -> str:
    return "-" if ms != ms else f"{ms:+.2f}"


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "diff", "--quiet", "HEAD", "--", "src"], capture_output=True, cwd=ROOT
    ).returncode
    wrk_version = ""
    if shutil.which("wrk"):  # the freshness bench runs without it
        wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "reelgate_source": SOURCE.get(
            "reelgate_source",
            f"working tree at {commit}" + (" + uncommitted src changes" if dirty else ""),
        ),
        "load_generator": wrk_version.splitlines()[0] if wrk_version else "wrk",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_results(name: str, payload: Mapping[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    return path


def base_parser(description: str) -> argparse.ArgumentParser:
    """The options every load benchmark has: placement and where LiteLLM comes from."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pin the target under test and the load generator to separate CPUs",
    )
    parser.add_argument("--target-cpus", type=_cpus, default=[0], help="CPUs of the target")
    parser.add_argument("--load-cpus", type=_cpus, default=[1], help="CPUs of wrk and the rest")
    parser.add_argument(
        "--litellm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"also measure LiteLLM's proxy {LITELLM_VERSION} (installed into bench/.venv-litellm)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir and logs")
    parser.add_argument(
        "--output", help="name of the JSON file in bench/results/ (default: the bench's name)"
    )
    parser.add_argument(
        "--quiet",
        type=float,
        default=0.3,
        help="before each run, wait until other users' processes use fewer CPUs than this",
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=20.0, help="the longest such wait, in seconds"
    )
    parser.add_argument(
        "--rev",
        help="run reelgate as committed at this git revision (git archive) instead of the "
        "working tree",
    )
    return parser


def _cpus(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
