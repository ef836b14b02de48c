"""Throughput: the highest sustained request rate of a gateway, concurrency ramped up.

Targets, all in one run, taking turns at every level (the machine drifts):
  direct             the sandbox alone: MiniMax's API answered directly
  reelgate           ``reelgate serve`` (SQLite) in front of that same sandbox
  reelgate-postgres  the same, on a fresh PostgreSQL database
  litellm            LiteLLM's proxy (pass-through endpoint) in front of that same sandbox
With ``--workers 1,2`` each gateway runs as ``serve --workers N`` for each N, all with
Redis (reelgate-w1, reelgate-w2, reelgate-postgres-w1...); give them the CPUs to grow on,
e.g. ``--no-pin`` (everything shares every core).

For query and for create, each target is loaded with wrk at each concurrency level; its
plateau is the best rate it sustained with at most 1% errors.

Run: ``.venv/bin/python bench/throughput.py`` (``--help`` for the options). Prints
Markdown tables and writes bench/results/throughput.json.
"""

from __future__ import annotations

from typing import Any

from lab import Lab, start_targets
from load import Load, require_wrk
from options import OPS_HELP, base_parser, ints
from output import log, table, write_results
from placement import Placement
from stores import query_ids, store_count
from targets import Target

MAX_ERROR_RATE = 0.01


def parse_args() -> Any:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--ops", default="query,query-distinct,create", help=OPS_HELP)
    parser.add_argument("--ramp", type=ints, default=[1, 8, 32, 128], help="wrk clients")
    parser.add_argument("--duration", type=int, default=4, help="seconds per wrk run")
    parser.add_argument(
        "--databases", default="sqlite,postgres", help="reelgate stores: sqlite,postgres"
    )
    parser.add_argument(
        "--renders",
        choices=["idle", "normal", "paused"],
        default="idle",
        help="the sandbox's render workers: SCHED_IDLE, normal priority, or stopped",
    )
    parser.add_argument("--render-workers", type=int, default=1, help="sandbox render processes")
    parser.add_argument(
        "--workers",
        type=ints,
        default=[1],
        help="API processes of each gateway (`serve --workers N`), e.g. 1,2: a gateway per "
        "number per store, named reelgate-wN, all with Redis (--redis-url), as N > 1 needs",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/2",
        help="Redis of the gateways when --workers is not just 1 (each under its own prefix)",
    )
    parser.add_argument(
        "--store-tasks",
        type=int,
        default=10_000,
        help="tasks in each gateway's store (of the one account) before the query benchmark; "
        "the query asks for the newest",
    )
    return parser.parse_args()


def ramp(lab: Lab, targets: list[Target], op: str, args: Any) -> dict[str, dict[int, Load]]:
    ids = query_ids(op, targets, args.store_tasks)
    for target in targets:  # warm-up
        lab.run(target, op, 8, 1, ids[target.name])
    out: dict[str, dict[int, Load]] = {t.name: {} for t in targets}
    for i, conns in enumerate(args.ramp):
        log(f"{op}: {conns} clients, {args.duration} s per target")
        order = targets[i % len(targets) :] + targets[: i % len(targets)]
        for target in order:
            out[target.name][conns] = lab.run(
                target, op, conns, args.duration, ids[target.name], (args.quiet, args.quiet_wait)
            )
    return out


def plateau(levels: dict[int, Load]) -> tuple[float, int]:
    """The best rate with at most 1% errors, and the concurrency that reached it."""
    ok = [(load.rps, conns) for conns, load in levels.items() if load.error_rate <= MAX_ERROR_RATE]
    return max(ok, default=(0.0, 0))


def query_goals(op: str, query: dict[str, Any]) -> list[str]:
    """The issue's goals: at least half the sandbox's rate, at least 20 times LiteLLM's."""
    goals: list[str] = []
    if "reelgate" not in query:
        return goals
    for key, what in (("plateau_rps", "measured"), ("one_core_capacity_rps", "1-core")):
        rg, direct = query["reelgate"][key], query["direct"][key]
        goals.append(
            f"- reelgate {op} {rg:.0f} req/s vs the sandbox's {direct:.0f} ({what}): "
            f"{rg / direct:.2f}x (goal >= 0.5x): {'met' if rg >= direct / 2 else 'NOT met'}"
        )
        if "litellm" in query and query["litellm"][key]:
            ll = query["litellm"][key]
            goals.append(
                f"- reelgate {op} vs LiteLLM's {ll:.0f} req/s ({what}): {rg / ll:.1f}x "
                f"(goal >= 20x): {'met' if rg >= 20 * ll else 'NOT met'}"
            )
    return goals


def main() -> None:
    args = parse_args()
    require_wrk()
    placement = Placement.from_args(args)
    with Lab(placement, keep_logs=args.keep_logs, rev=args.rev) as lab:
        targets, skipped = start_targets(
            lab,
            args.databases.split(","),
            args.litellm,
            render_workers=args.render_workers,
            workers=args.workers,
            redis_url=None if args.workers == [1] else args.redis_url,
        )
        measured, stores = {}, {}
        for op in args.ops.split(","):
            measured[op] = ramp(lab, targets, op, args)
            if op.startswith("query"):
                stores = {t.name: store_count(t) for t in targets if t.store}
    names = [t.name for t in targets]

    tables: list[str] = []
    data: dict[str, dict[str, Any]] = {}
    for op, per_target in measured.items():
        rows = []
        data[op] = {}
        for name in names:
            rate, at = plateau(per_target[name])
            busy = Load()  # the levels with several clients, where the target is saturated
            for conns, load in per_target[name].items():
                if conns > 1:
                    busy += load
            data[op][name] = {
                "plateau_rps": round(rate, 1),
                "at_clients": at,
                "cpu_ms_per_request": round(busy.cpu_ms_per_request, 4),
                "one_core_capacity_rps": round(1000 / busy.cpu_ms_per_request, 1),
                "levels": {c: load.summary() for c, load in per_target[name].items()},
            }
            for conns, load in per_target[name].items():
                s = load.summary()
                rows.append(
                    [
                        name,
                        conns,
                        s["rps"],
                        s["p50_ms"],
                        s["p99_ms"],
                        f"{100 * load.error_rate:.2f}%",
                        f"{load.cpu_ms_per_request:.3f}",
                        f"{s['target_cpu']:.2f}",
                        f"{s['other_cpu']:.2f}",
                    ]
                )
        headers = ["target", "clients", "req/s", "p50 ms", "p99 ms", "errors", "CPU ms/req"]
        headers.append("target CPU")
        headers.append("others' CPU")
        title = f"### {op}, by concurrency"
        if op.startswith("query") and stores:
            title += " (tasks in the store: " + ", ".join(f"{k}: {v}" for k, v in stores.items())
            title += ")"
        tables.append(title + "\n\n" + table(headers, rows))

    summary_rows = []
    for name in names:
        row: list[Any] = [name]
        for op in measured:
            d = data[op][name]
            rate, direct = d["plateau_rps"], data[op]["direct"]["plateau_rps"]
            row += [rate, d["at_clients"], f"{rate / direct:.2f}" if direct else "-"]
            row += [d["cpu_ms_per_request"], d["one_core_capacity_rps"]]
        summary_rows.append(row)
    headers = ["target"]
    for op in measured:
        headers += [f"{op} req/s", "at clients", "x direct", "CPU ms/req", "1-core req/s"]
    tables.insert(0, "### plateau (best rate with <= 1% errors)\n\n" + table(headers, summary_rows))

    goals = []
    for op in ("query", "query-distinct"):
        goals += query_goals(op, data.get(op, {}))
    print("\n\n".join(tables))
    print()
    print("\n".join(goals))
    for name, why in skipped.items():
        print(f"\n{name} did not run: {why}")
    path = write_results(
        args.output or "throughput",
        {
            "args": vars(args),
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
