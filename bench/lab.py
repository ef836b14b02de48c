"""The Lab: targets started in a temporary directory, placed on their CPUs, loaded with
wrk, and all stopped (with whatever they left behind) however the benchmark ends."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from config import (
    ADMIN_TOKEN,
    API_KEY,
    CREATE_BODY,
    LITELLM_KEY,
    LITELLM_VERSION,
    PYTHON,
    ROOT,
    SANDBOX_KEY,
    SOURCE,
)
from load import Load, children_cpu_s, wrk
from output import log
from placement import Placement, RenderTamer
from procs import Proc, Unavailable, busy_seconds, cpu_seconds, free_port, set_affinity
from stores import fresh_postgres
from targets import Target, clean_env, ensure_litellm


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
        workers: int = 1,
        redis_url: str | None = None,
    ) -> Target:
        """``reelgate serve`` in front of ``upstream`` (None: with its sandbox mounted);
        ``workers``: ``serve --workers N``, ``redis_url``: Redis under a prefix of its own.

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
        if redis_url is not None:
            env.update(REELGATE_REDIS_URL=redis_url, REELGATE_REDIS_PREFIX=f"bench-{data.name}:")
        env.update(extra_env or {})
        argv = [PYTHON, "-m", "reelgate", "serve", "--port", str(port)]
        argv += ["--workers", str(workers)] if workers != 1 else []  # a --rev may predate it
        proc = self._proc(name, argv, env, f"http://127.0.0.1:{port}/readyz")
        proc.with_children = workers > 1  # its API processes are its children
        proc.start()
        proc.wait_log("Application startup complete", workers)  # /readyz: the first one
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
        total = me.ru_utime + me.ru_stime + children_cpu_s()
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
                for pid in proc.tree() if proc.with_children else [proc.pid]:
                    set_affinity(pid, self.placement.target if ours else self.placement.load)


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
    workers: Sequence[int] = (1,),
    redis_url: str | None = None,
) -> tuple[list[Target], dict[str, str]]:
    """The sandbox, a gateway per store (and per number of API processes in ``workers``)
    in front of it, LiteLLM in front of it too; and, for any that could not run, exactly
    why."""
    skipped: dict[str, str] = {}
    sandbox = lab.sandbox(
        timings=timings, render_workers=render_workers, extra_keys=extra_sandbox_keys
    )
    targets = [sandbox]
    for db in databases:
        for n in workers:
            name = "reelgate" if db == "sqlite" else f"reelgate-{db}"
            name += f"-w{n}" if list(workers) != [1] else ""
            try:
                gateway = lab.gateway(
                    sandbox, database=db, name=name, workers=n, redis_url=redis_url
                )
                targets.append(gateway)
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
