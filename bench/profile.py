"""Profile: where a gateway process spends its CPU on create and on query, under load.

``reelgate serve`` (SQLite by default) runs in front of a standalone sandbox; wrk loads it
with one operation at a time while py-spy samples the gateway without stopping it
(``--nonblocking``), counting only the thread that holds the GIL (``--gil``): that is the
Python work that bounds a process's throughput. For each operation it writes, into
bench/results/:

  profile-<op>.svg     a flame graph (py-spy's)
  profile-<op>.folded  the samples as folded stacks (for any flame-graph tool)
  profile-<op>.txt     the text report: time by layer (the library of the innermost
                       frame), by reelgate function (inclusive), by leaf frame

and profile.json with the same tables. It also reports CPU time per thread, which shows
the cost of the database driver's own threads (aiosqlite runs one per connection).

Run: ``.venv/bin/python bench/profile.py`` (``--help`` for the options). Needs py-spy in
the project venv (installed on first use) and root or CAP_SYS_PTRACE.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from config import PYTHON, RESULTS
from lab import Lab
from load import Load, require_wrk
from options import OPS_HELP, base_parser
from output import log, table, write_results
from placement import Placement
from procs import main_thread_cpu_s
from stores import distinct_ids, seed_tasks
from targets import Target

# What each top-level package is, for the "by layer" table.
LAYERS = {
    "sqlalchemy": "database: SQLAlchemy",
    "aiosqlite": "database: driver (aiosqlite, its thread hand-offs)",
    "sqlite3": "database: driver (aiosqlite, its thread hand-offs)",
    "asyncpg": "database: driver (asyncpg)",
    "greenlet": "database: SQLAlchemy",
    "httpx": "upstream client: httpx/httpcore",
    "httpcore": "upstream client: httpx/httpcore",
    "h11": "upstream client: httpx/httpcore",
    "anyio": "upstream client: httpx/httpcore",
    "uvicorn": "HTTP server: uvicorn",
    "starlette": "web framework: Starlette/FastAPI",
    "fastapi": "web framework: Starlette/FastAPI",
    "pydantic": "pydantic",
    "reelgate": "reelgate's own code",
}
ENTRY = {"reelgate/cli.py", "reelgate/__main__.py"}  # on every stack: not informative
STDLIB_LOOP = {"asyncio", "selectors", "threading", "queue", "concurrent", "contextlib"}
FRAME = re.compile(r"^(?P<func>.*) \((?P<path>[^:()]+)(?::\d+)?\)$")


def parse_args() -> Any:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--ops", default="query,query-distinct,create", help=OPS_HELP)
    parser.add_argument("--duration", type=int, default=10, help="seconds of sampling per op")
    parser.add_argument("--clients", type=int, default=10, help="wrk clients")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every thread that is not idle, not only the one holding the GIL",
    )
    parser.add_argument(
        "--store-tasks",
        type=int,
        default=10_000,
        help="tasks in the store before the query is profiled (it asks for the newest)",
    )
    parser.set_defaults(renders="idle")
    return parser.parse_args()


def py_spy() -> str:
    exe = Path(PYTHON).parent / "py-spy"
    if not exe.exists():
        log("installing py-spy into the project venv ...")
        subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "py-spy"], check=True)
    return str(exe) if exe.exists() else (shutil.which("py-spy") or sys.exit("py-spy missing"))


def record(target: Target, op: str, args: Any, lab: Lab) -> tuple[Path, Load, dict[str, float]]:
    """Load the gateway with wrk and sample it with py-spy meanwhile (two recorders: the
    folded stacks for the report and py-spy's own SVG)."""
    task_id: str | list[str] = ""
    if op == "query":
        seed_tasks(target, args.store_tasks)
        task_id = target.create_task()
    elif op == "query-distinct":
        task_id = distinct_ids([target], args.store_tasks)[target.name]
    lab.run(target, op, args.clients, 2, task_id)  # warm-up
    loads: list[Load] = []
    runner = threading.Thread(
        target=lambda: loads.append(lab.run(target, op, args.clients, args.duration + 3, task_id))
    )
    folded, svg = RESULTS / f"profile-{op}.folded", RESULTS / f"profile-{op}.svg"
    common = [py_spy(), "record", "--pid", str(target.proc.pid), "--nonblocking"]
    common += ["--rate", str(args.rate), "--duration", str(args.duration)]
    if not args.all_threads:
        common.append("--gil")
    runner.start()
    time.sleep(1.5)
    main0, total0 = main_thread_cpu_s(target.proc.pid), target.proc.cpu_s()
    watcher = ThreadWatcher(target.proc.pid)
    spies = [
        subprocess.Popen(
            [*common, "--format", fmt, "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for fmt, out in (("raw", folded), ("flamegraph", svg))
    ]
    for spy in spies:
        _, err = spy.communicate()
        if spy.returncode != 0:
            raise SystemExit(f"py-spy failed: {err.decode().strip()}")
    main1, total1 = main_thread_cpu_s(target.proc.pid), target.proc.cpu_s()
    watcher.close()
    runner.join()
    per_thread = {  # a process's time includes its threads that have exited meanwhile
        "main (event loop)": round((main1 - main0) / args.duration, 3),
        "other threads (database driver, executors)": round(
            ((total1 - total0) - (main1 - main0)) / args.duration, 3
        ),
        "threads seen": len(watcher.seen),
        "threads at most at once": watcher.most,
    }
    return folded, loads[0], per_thread


class ThreadWatcher:
    """Counts a process's threads every 20 ms: many more seen than ever alive at once
    means threads come and go (aiosqlite starts one per new database connection)."""

    def __init__(self, pid: int) -> None:
        self.seen: set[str] = set()
        self.most = 0
        self._pid = pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            try:
                now = os.listdir(f"/proc/{self._pid}/task")
            except OSError:
                return
            self.seen.update(now)
            self.most = max(self.most, len(now))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def frames(stack: str) -> list[tuple[str, str]]:
    """(function, path) from outermost to innermost; the thread name is dropped."""
    out = []
    for part in stack.split(";"):
        m = FRAME.match(part.strip())
        if m:
            out.append((m.group("func"), m.group("path")))
    return out


def layer(path: str) -> str:
    top = path.split("/", 1)[0].removesuffix(".py")
    if top in LAYERS:
        return LAYERS[top]
    if top in STDLIB_LOOP:
        return "event loop, threads (asyncio/uvloop, queues)"
    return f"other: {top}"


def analyse(folded: Path) -> dict[str, Any]:
    by_layer: Counter[str] = Counter()
    by_ours: Counter[str] = Counter()  # samples with this reelgate function on the stack
    by_leaf: Counter[str] = Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        fs = frames(stack)
        if not fs:
            continue
        total += n
        func, path = fs[-1]
        by_leaf[f"{func} ({path})"] += n
        # the library the time is spent in: the innermost frame that is not stdlib plumbing
        by_layer[layer(path)] += n
        ours = {f"{f} ({p})" for f, p in fs if p.startswith("reelgate/") and p not in ENTRY}
        by_ours.update(dict.fromkeys(ours or {"(no reelgate function on the stack)"}, n))

    def top(counter: Counter[str], k: int) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(k)]

    return {
        "samples": total,
        "by_layer": top(by_layer, 12),
        "by_reelgate_function": top(by_ours, 20),
        "by_leaf": top(by_leaf, 20),
    }


def main() -> None:
    args = parse_args()
    require_wrk()
    placement = Placement.from_args(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {}
    with Lab(placement, keep_logs=args.keep_logs, rev=args.rev) as lab:
        sandbox = lab.sandbox(timings="realistic", render_workers=1)
        gateway = lab.gateway(sandbox, database=args.database)
        for op in args.ops.split(","):
            log(f"{op}: {args.clients} clients, sampling {args.duration} s")
            folded, load, per_thread = record(gateway, op, args, lab)
            result = analyse(folded)
            result["load"] = load.summary()
            result["cpu_by_thread"] = per_thread
            report[op] = result

    out = []
    for op, r in report.items():
        s = r["load"]
        text = [
            f"### {op}: {s['rps']:.0f} req/s at {args.clients} clients, p50 {s['p50_ms']:.2f} ms "
            f"({r['samples']} samples{'' if args.all_threads else ' of the GIL holder'})",
            "",
            "CPU (cores): " + ", ".join(f"{k} {v:g}" for k, v in r["cpu_by_thread"].items()),
            "",
            table(["layer (innermost library)", "% samples"], r["by_layer"]),
            "",
            table(["reelgate function (inclusive)", "% samples"], r["by_reelgate_function"]),
            "",
            table(["leaf frame", "% samples"], r["by_leaf"][:12]),
        ]
        (RESULTS / f"profile-{op}.txt").write_text("\n".join(text) + "\n")
        out.append("\n".join(text))
    print("\n\n".join(out))
    path = write_results(
        args.output or "profile",
        {"args": vars(args), "placement": placement.describe(), "results": report},
    )
    log(f"wrote {path} and profile-<op>.svg/.folded/.txt beside it")


if __name__ == "__main__":
    main()
