"""Overhead: what the gateway adds to a MiniMax call, against the same call made directly.

Targets, all in one run and interleaved round by round (the machine drifts):
  direct    the sandbox alone (``reelgate sandbox``), MiniMax's API answered directly
  reelgate  ``reelgate serve`` in front of that same sandbox (SQLite, or PostgreSQL)
  litellm   LiteLLM's proxy, a pass-through endpoint in front of that same sandbox

Operations: create (POST /v1/video_generation, T2V-01) and query (GET
/v1/query/video_generation of an existing task). Each is measured by a sequential Python
client (one request at a time, targets interleaved request by request) and by wrk at each
concurrency level. Latencies are what each client saw (wrk's coordinated-omission
correction is undone; see load.uncorrect).

Run: ``.venv/bin/python bench/overhead.py`` (``--help`` for the options). Prints Markdown
tables and writes bench/results/overhead.json.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import httpx

from config import CREATE_BODY
from lab import Lab, start_targets
from load import Load, require_wrk
from options import OPS_HELP, base_parser, ints
from output import log, signed, table, write_results
from placement import Placement
from stores import query_ids, store_count
from targets import Target

# ms the gateway may add at the median, at 10 clients
GOALS = {"query": 1.0, "query-distinct": 1.0, "create": 2.0}


def parse_args() -> Any:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--ops", default="query,query-distinct,create", help=OPS_HELP)
    parser.add_argument("--concurrency", type=ints, default=[1, 10, 50], help="wrk clients")
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="wrk runs per target and level")
    parser.add_argument(
        "--sequential", type=int, default=200, help="requests per target, one at a time"
    )
    parser.add_argument(
        "--databases", default="sqlite", help="reelgate stores to compare: sqlite,postgres"
    )
    parser.add_argument(
        "--renders",
        choices=["idle", "normal", "paused"],
        default="idle",
        help="the sandbox's render workers: SCHED_IDLE (spare CPU only), normal "
        "priority, or stopped (SIGSTOP) while measuring",
    )
    parser.add_argument("--render-workers", type=int, default=1, help="sandbox render processes")
    parser.add_argument("--timings", default="realistic", help="REELGATE_SANDBOX_TIMINGS")
    parser.add_argument(
        "--store-tasks",
        type=int,
        default=10_000,
        help="tasks in each gateway's store (of the one account) before the query benchmark; "
        "the query asks for the newest",
    )
    return parser.parse_args()


def sequential(
    targets: list[Target], op: str, n: int, ids: Mapping[str, str | list[str]]
) -> dict[str, Load]:
    """One client, one request at a time, the targets taking turns request by request."""
    out = {t.name: Load() for t in targets}
    clients = {
        t.name: httpx.Client(headers=t.headers, timeout=30, trust_env=False) for t in targets
    }
    try:
        for i in range(n + 10):
            for target in targets:
                client = clients[target.name]
                t0 = time.perf_counter()
                if op == "create":
                    resp = client.post(target.create_url, json=CREATE_BODY)
                else:
                    asked = ids[target.name]
                    task_id = asked if isinstance(asked, str) else asked[i % len(asked)]
                    resp = client.get(target.query_url(task_id))
                took = time.perf_counter() - t0
                if i < 10:  # warm-up: the connection and the first requests
                    continue
                load = out[target.name]
                load.requests += 1
                load.seconds += took
                load.hist[round(took * 1e6)] += 1
                if resp.status_code != 200 or resp.json()["base_resp"]["status_code"] != 0:
                    load.errors += 1
    finally:
        for client in clients.values():
            client.close()
    return out


def measure(lab: Lab, targets: list[Target], op: str, args: Any) -> dict[str, dict[str, Load]]:
    ids = query_ids(op, targets, args.store_tasks)
    for target in targets:  # warm-up: pools, caches, the first renders queued
        lab.run(target, op, 10, 1, ids[target.name])
    results: dict[str, dict[str, Load]] = {}
    quiet = (args.quiet, args.quiet_wait)
    if args.sequential:
        log(f"{op}: sequential, {args.sequential} requests per target")
        lab.place(None)
        results["seq"] = sequential(targets, op, args.sequential, ids)
    for conns in args.concurrency:
        log(f"{op}: {conns} clients, {args.rounds} x {args.duration:.0f} s per target")
        loads: dict[str, Load] = defaultdict(Load)
        for r in range(args.rounds):
            order = targets[r % len(targets) :] + targets[: r % len(targets)]
            for target in order:
                loads[target.name] += lab.run(
                    target, op, conns, args.duration, ids[target.name], quiet
                )
        results[str(conns)] = dict(loads)
    return results


def report(op: str, results: dict[str, dict[str, Load]]) -> tuple[str, dict[str, Any]]:
    rows: list[list[Any]] = []
    data: dict[str, Any] = {}
    for clients, loads in results.items():
        base = loads["direct"]
        data[clients] = {}
        for name, load in loads.items():
            summary = load.summary()
            if clients == "seq":
                summary["rps"] = round(load.requests / load.seconds, 1) if load.seconds else 0
            added = {q: load.ms(q) - base.ms(q) for q in (50, 90, 99)}
            if name != "direct":
                summary["added_ms"] = {f"p{q}": round(v, 3) for q, v in added.items()}
            data[clients][name] = summary
            rows.append(
                [
                    clients,
                    name,
                    summary["rps"],
                    load.ms(50),
                    load.ms(90),
                    load.ms(99),
                    *(("-", "-", "-") if name == "direct" else map(signed, added.values())),
                    "-" if clients == "seq" else f"{load.cpu_ms_per_request:.2f}",
                    "-" if clients == "seq" else f"{summary['target_cpu']:.2f}",
                    "-" if clients == "seq" else f"{summary['other_cpu']:.2f}",
                    f"{100 * load.error_rate:.2f}%",
                ]
            )
    headers = ["clients", "target", "req/s", "p50 ms", "p90 ms", "p99 ms"]
    headers += ["+p50", "+p90", "+p99", "CPU ms/req", "target CPU", "others' CPU", "errors"]
    return f"### {op}\n\n" + table(headers, rows), data


def main() -> None:
    args = parse_args()
    require_wrk()
    placement = Placement.from_args(args)
    ops = args.ops.split(",")
    with Lab(placement, keep_logs=args.keep_logs, rev=args.rev) as lab:
        targets, skipped = start_targets(
            lab,
            args.databases.split(","),
            args.litellm,
            timings=args.timings,
            render_workers=args.render_workers,
        )
        tables, data, stores = [], {}, {}
        for op in ops:
            text, data[op] = report(op, measure(lab, targets, op, args))
            if op.startswith("query"):
                stores = {t.name: store_count(t) for t in targets if t.store}
                title = ", ".join(f"{k}: {v}" for k, v in stores.items())
                text = text.replace(f"### {op}", f"### {op} (tasks in the store: {title})", 1)
            tables.append(text)
    load_cpu = max(
        (s["load_generator_cpu"] for op in data.values() for c in op.values() for s in c.values()),
        default=0.0,
    )
    goals = []
    for op, limit in GOALS.items():
        for name in ("reelgate", "reelgate-postgres"):
            added = data.get(op, {}).get("10", {}).get(name, {}).get("added_ms", {}).get("p50")
            if added is not None:
                verdict = "met" if added <= limit else "NOT met"
                goals.append(
                    f"- {name} {op}, 10 clients: +{added:.2f} ms at p50 (goal <= {limit:g} ms): "
                    f"{verdict}"
                )
    print("\n\n".join(tables))
    print()
    print("\n".join(goals))
    print(f"\nwrk used at most {100 * load_cpu:.0f}% of one CPU (it is not the bottleneck).")
    for name, why in skipped.items():
        print(f"\n{name} did not run: {why}")
    path = write_results(
        args.output or "overhead",
        {
            "args": {k: v for k, v in vars(args).items()},
            "placement": placement.describe(),
            "targets": {t.name: t.note for t in targets},
            "skipped": skipped,
            "store_tasks_at_query": stores,
            "results": data,
            "goals": goals,
        },
    )
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
