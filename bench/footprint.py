"""Footprint: memory (RSS of the process and of its children) at rest and under load, and
the time from process start to ready.

Configurations:
  reelgate          ``reelgate serve`` in front of a standalone sandbox (SQLite); no children
  reelgate-mounted  ``reelgate serve`` as it starts by default: SQLite, the sandbox mounted at
                    /sandbox as its upstream, whose render workers are its children
  reelgate-postgres ``reelgate serve`` in front of a standalone sandbox, on PostgreSQL
  reelgate-w2       ``reelgate serve --workers 2`` (SQLite, Redis): a supervisor that runs the
                    tracker and two API processes, its children (not run unless asked)
  direct            the sandbox alone (``reelgate sandbox``)
  litellm           LiteLLM's proxy, for reference

Ready means: /readyz answers 200 for reelgate (the store answers, its schema is current),
/docs for the sandbox, /health/liveliness for LiteLLM. Each start is a first start, in a
fresh data directory (or database).

Run: ``.venv/bin/python bench/footprint.py`` (``--help`` for the options). Prints
Markdown tables and writes bench/results/footprint.json.
"""

from __future__ import annotations

import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from config import PYTHON
from lab import Lab
from load import require_wrk
from options import base_parser
from output import log, table, write_results
from placement import Placement
from procs import Unavailable, rss_kib
from targets import Target, clean_env

MIB = 1024
# What the gateway's process imports, by group; each is measured in a fresh interpreter.
IMPORT_GROUPS = {
    "bare interpreter": "pass",
    "web stack: fastapi, sqlalchemy, httpx, uvicorn": (
        "import fastapi, sqlalchemy.ext.asyncio, httpx, uvicorn"
    ),
    "migrations: alembic": "import alembic.command, alembic.config",
    "renderer: numpy, av, PIL": "import numpy, av, PIL.Image",
    "S3 storage: aiobotocore, aiohttp": "import aiobotocore.session, aiohttp",
    "the gateway: reelgate.app": "import reelgate.app",
}


def parse_args() -> Any:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=3, help="fresh starts per configuration")
    parser.add_argument("--duration", type=int, default=5, help="seconds of each load")
    parser.add_argument("--clients", type=int, default=10, help="wrk clients during the load")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds at rest before RSS")
    parser.add_argument(
        "--configs",
        default="reelgate,reelgate-mounted,reelgate-postgres,direct,litellm",
        help="which configurations",
    )
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/2", help="Redis of reelgate-w2"
    )
    parser.set_defaults(renders="idle")  # renders left queued must not slow later starts
    return parser.parse_args()


class PeakRss:
    """Samples a target's RSS (process, and process with children) while a load runs."""

    def __init__(self, target: Target, every_s: float = 0.1) -> None:
        self.proc_kib = self.tree_kib = self.children = 0
        self._target = target
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            proc = self._target.proc
            self.proc_kib = max(self.proc_kib, proc.rss_kib(tree=False))
            self.tree_kib = max(self.tree_kib, proc.rss_kib(tree=True))
            self.children = max(self.children, len(proc.tree()) - 1)


def start_config(lab: Lab, config: str, upstream: Target, i: int, redis_url: str) -> Target:
    if config == "direct":  # with the default number of render workers, as mounted
        return lab.sandbox(name=f"sandbox-{i}", render_workers=2)
    if config == "litellm":
        return lab.litellm(upstream)
    if config == "reelgate-mounted":
        return lab.gateway(None, name=f"{config}-{i}")
    if config == "reelgate-w2":
        return lab.gateway(upstream, name=f"{config}-{i}", workers=2, redis_url=redis_url)
    database = "postgres" if config == "reelgate-postgres" else "sqlite"
    return lab.gateway(upstream, database=database, name=f"{config}-{i}")


def rest(target: Target, settle: float) -> dict[str, float]:
    time.sleep(settle)
    return {
        "rss_mib": target.proc.rss_kib(tree=False) / MIB,
        "tree_mib": target.proc.rss_kib(tree=True) / MIB,
        "children": len(target.proc.tree()) - 1,
        "largest_mib": max(rss_kib(p) for p in target.proc.tree()) / MIB,  # one process
    }


def under_load(lab: Lab, target: Target, upstream: Target, op: str, args: Any) -> dict[str, float]:
    task_id = ""
    if op == "query":  # LiteLLM passes the sandbox's ids through
        task_id = (upstream if target.name == "litellm" else target).create_task()
    with PeakRss(target) as peak:
        load = lab.run(target, op, args.clients, args.duration, task_id)
    return {
        "peak_rss_mib": peak.proc_kib / MIB,
        "peak_tree_mib": peak.tree_kib / MIB,
        "children": peak.children,
        "rps": load.rps,
        "error_rate": load.error_rate,
    }


def import_profile(src: Path | None, cpus: frozenset[int] | None) -> dict[str, Any]:
    """What importing the gateway costs, and what each group of libraries it pulls in costs
    on its own (a fresh interpreter each: peak RSS and seconds); run on the target CPUs
    before anything else runs."""
    env = clean_env()
    if src is not None:
        env["PYTHONPATH"] = str(src)
    pin = ["taskset", "-c", ",".join(map(str, sorted(cpus)))] if cpus else []
    probe = (  # VmHWM, not ru_maxrss: that one keeps the forking parent's size across exec
        "import time; t = time.perf_counter(); {stmt}; s = time.perf_counter() - t; "
        "print(s, next(int(x.split()[1]) for x in open('/proc/self/status') "
        "if x.startswith('VmHWM')))"
    )
    out: dict[str, Any] = {}
    for name, stmt in IMPORT_GROUPS.items():
        runs = []
        for _ in range(3):
            done = subprocess.run(
                [*pin, PYTHON, "-c", probe.format(stmt=stmt)], env=env, capture_output=True
            )
            if done.returncode != 0:
                break
            seconds, kib = done.stdout.split()
            runs.append((float(seconds), int(kib) / MIB))
        if runs:
            out[name] = {
                "import": stmt,
                "seconds": round(statistics.median(r[0] for r in runs), 3),
                "peak_rss_mib": round(statistics.median(r[1] for r in runs), 1),
            }
        else:
            out[name] = {"import": stmt, "error": "not importable here"}
    return out


def main() -> None:
    args = parse_args()
    require_wrk()
    placement = Placement.from_args(args)
    configs = args.configs.split(",")
    results: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    with Lab(placement, keep_logs=args.keep_logs, rev=args.rev) as lab:
        imports = import_profile(lab.src, placement.target)
        upstream = lab.sandbox(name="sandbox")
        for config in configs:
            if config == "litellm" and not args.litellm:
                continue
            n = args.starts if config != "litellm" else 1  # LiteLLM is slow to start
            log(f"{config}: {n} start(s)")
            starts, rests, target = [], [], None
            try:
                for i in range(n):
                    if target is not None:
                        target.proc.stop()
                    target = start_config(lab, config, upstream, i, args.redis_url)
                    starts.append(target.proc.ready_s)
                    rests.append(rest(target, args.settle))
            except Unavailable as exc:
                skipped[config] = str(exc)
                log(f"{config} skipped: {exc}")
                continue
            assert target is not None
            log(f"{config}: under load")
            query = under_load(lab, target, upstream, "query", args)
            create = under_load(lab, target, upstream, "create", args)
            after = rest(target, args.settle)
            target.proc.stop()
            results[config] = {
                "ready_s": {"median": statistics.median(starts), "min": min(starts), "all": starts},
                "at_rest": rests[-1],
                "at_rest_median_rss_mib": statistics.median(r["rss_mib"] for r in rests),
                "query_load": query,
                "create_load": create,
                "after_load": after,
            }

    rows = []
    for config, r in results.items():
        rows.append(
            [
                config,
                r["ready_s"]["median"],
                r["at_rest_median_rss_mib"],
                r["query_load"]["peak_rss_mib"],
                r["create_load"]["peak_rss_mib"],
                r["create_load"]["peak_tree_mib"],
                r["create_load"]["children"],
                r["after_load"]["rss_mib"],
                r["after_load"]["tree_mib"],
            ]
        )
    headers = ["configuration", "ready s", "rest MiB", "query peak", "create peak"]
    headers += ["create peak +children", "children", "after MiB", "after +children"]
    print("### memory (RSS, MiB) and time to ready\n")
    print(table(headers, rows))
    print("\n### what the imports cost (each in a fresh interpreter)\n")
    print(
        table(
            ["imports", "seconds", "peak RSS MiB"],
            [[k, v.get("seconds", "-"), v.get("peak_rss_mib", "-")] for k, v in imports.items()],
        )
    )
    rest_mib = results.get("reelgate-mounted", {}).get("at_rest_median_rss_mib")
    if rest_mib is not None:
        mb = rest_mib * 1.048576
        verdict = "met" if mb < 150 else "NOT met"
        print(
            f"\n- memory at rest, default configuration (reelgate-mounted): {rest_mib:.0f} MiB "
            f"= {mb:.0f} MB (goal < 150 MB): {verdict}"
        )
    workers = results.get("reelgate-w2", {}).get("at_rest")
    if workers is not None:
        mb = workers["largest_mib"] * 1.048576
        print(
            f"- memory at rest, serve --workers 2: its largest process {mb:.0f} MB, "
            f"{workers['tree_mib']:.0f} MiB for the supervisor and its {workers['children']} "
            f"children (goal < 150 MB a process): {'met' if mb < 150 else 'NOT met'}"
        )
    for name, why in skipped.items():
        print(f"\n{name} did not run: {why}")
    path = write_results(
        args.output or "footprint",
        {
            "args": vars(args),
            "placement": placement.describe(),
            "results": results,
            "imports": imports,
            "skipped": skipped,
        },
    )
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
