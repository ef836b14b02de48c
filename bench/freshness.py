"""Freshness: how late the gateway records that an upstream task finished.

Keeps N tasks in flight on one channel (a standalone sandbox with a stub renderer, so the
machine's CPU goes to the gateway, not to video encoding) and measures, for each task,
the lag between the moment the sandbox turned it Success and the gateway's record of it
(``finished_at``), polling only and with upstream callbacks; also the upstream queries
made per task and the most calls the channel saw in any budget window.

The table: the lag's p50/p90/p99/max and how many lags passed the poll cap; queries per
task; the calls of the busiest minute against the channel's budget, and whether the
budget held: the busiest minute stayed under the share of it that polls may use
(``POLL_SHARE``, 80 %), so no poll had to wait for budget.
With callbacks a second table splits the lag: success in the sandbox -> push sent, the
push's round trip (the gateway records the change before it answers), push sent ->
recorded. The JSON (``bench/results/freshness.json``) has every figure.

    .venv/bin/python bench/freshness.py --tasks 1000

``--case tracking`` measures the tracker's own cost instead (``bench/tracking.py``): N
tasks kept running at the poll cap, the gateway's CPU per upstream poll, on ``--databases``.

    .venv/bin/python bench/freshness.py --case tracking --tasks 10000 --databases sqlite,postgres
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from output import table, write_results
from procs import free_port
from reelgate.services.tracker import POLL_SHARE
from targets import Target

SANDBOX_KEY = "fresh-key"
API_KEY = "sk-fresh-0123456789abcdefghijklmnopqrstuvwx"
BODY = {"model": "T2V-01", "prompt": "freshness"}


def start(args: list[str], env: dict[str, str], log: Path, ready: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reelgate", *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(ready, timeout=1, trust_env=False).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{args[0]} did not start; see {log}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start_i = 0, 0
    for end, t in enumerate(times):
        while t - times[start_i] >= window:
            start_i += 1
        best = max(best, end - start_i + 1)
    return best


def run_mode(
    mode: str, tasks: int, sandbox_url: str, workdir: Path, rpm: int, poll_max: float
) -> dict[str, Any]:
    window = 60.0  # the upstream's budget window (MiniMax counts requests per minute)
    port = free_port()
    gw_url = f"http://127.0.0.1:{port}"
    channels = workdir / f"channels-{mode}.toml"
    channels.write_text(
        "[[channels]]\n"
        'name = "sandbox"\nkind = "sandbox"\n'
        f'base_url = "{sandbox_url}"\napi_key = "{SANDBOX_KEY}"\nrpm = {rpm}\n'
    )
    env = {
        "REELGATE_DATA_DIR": str(workdir / f"gw-{mode}"),
        "REELGATE_CHANNELS_FILE": str(channels),
        "REELGATE_SANDBOX_ENABLED": "false",
        "REELGATE_BOOTSTRAP_API_KEY": API_KEY,
        "REELGATE_ADMIN_TOKEN": "rg-admin-fresh",
        "REELGATE_BOOTSTRAP_BALANCE": str(10**12),
        "REELGATE_POLL_MAX_S": str(poll_max),
        "REELGATE_ALLOW_PRIVATE_URLS": "true",
    }
    if mode == "callbacks":
        env["REELGATE_PUBLIC_BASE_URL"] = gw_url
    gateway = start(
        ["serve", "--port", str(port)], env, workdir / f"gw-{mode}.log", gw_url + "/readyz"
    )
    t0 = time.time()
    try:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=gw_url, headers=headers, trust_env=False, timeout=60) as c:

            def create(_: int) -> str | None:
                data = c.post("/minimaxi/v1/video_generation", json=BODY).json()
                if data["base_resp"]["status_code"] != 0:
                    print(f"create refused: {data['base_resp']}", file=sys.stderr)
                    return None
                return str(data["platform_id"])

            with ThreadPoolExecutor(8) as pool:
                ids = [i for i in pool.map(create, range(tasks)) if i is not None]
            created_s = time.time() - t0
            finished: dict[str, dict[str, Any]] = {}
            deadline = time.monotonic() + 900
            while len(finished) < len(ids) and time.monotonic() < deadline:
                time.sleep(2)
                cursor = None
                while True:
                    params: dict[str, Any] = {"limit": 200, "status": "succeeded"}
                    if cursor:
                        params["cursor"] = cursor
                    page = c.get("/v1/tasks", params=params).json()
                    finished.update({t["task_id"]: t for t in page["data"]})
                    cursor = page["next_cursor"]
                    if not cursor:
                        break
        sb_headers = {"Authorization": f"Bearer {SANDBOX_KEY}"}
        with httpx.Client(base_url=sandbox_url, headers=sb_headers, trust_env=False) as sb:
            upstream = {
                t["task_id"]: t for t in sb.get("/_control/tasks", params={"since": t0}).json()
            }
            calls = sb.get("/_control/requests", params={"since": t0}).json()
    finally:
        stop(gateway)
    (workdir / f"calls-{mode}.json").write_text(json.dumps(calls))
    (workdir / f"tasks-{mode}.json").write_text(json.dumps([upstream, finished]))
    lags, push_after, push_answer, record_after_push = [], [], [], []
    success_pushes = {
        e["task_id"]: e
        for e in calls
        if e["endpoint"] == "callback_push" and e.get("task_status") == "success"
    }
    for task_id, task in finished.items():
        success_at = upstream.get(task_id, {}).get("success_at")
        if success_at is None:
            continue
        recorded = datetime.fromisoformat(task["finished_at"].replace("Z", "+00:00")).timestamp()
        lags.append(recorded - success_at)
        push = success_pushes.get(task_id)
        if push is not None:  # where the callback path spends its time
            push_after.append(push["t"] - success_at)
            push_answer.append(push["duration_s"])
            record_after_push.append(recorded - push["t"])
    api_calls = [e for e in calls if e["endpoint"] in ("create", "query", "retrieve")]
    queries = sum(1 for e in api_calls if e["endpoint"] == "query")
    busiest = max_in_window([e["t"] for e in api_calls], window)
    result: dict[str, Any] = {
        "mode": mode,
        "tasks": tasks,
        "accepted": len(ids),
        "succeeded": len(finished),
        "created_in_s": round(created_s, 1),
        "lag_s": spread(lags),
        "lag_over_cap": sum(1 for lag in lags if lag > poll_max),
        "queries_per_task": queries / max(1, len(ids)),
        "upstream_calls": {
            e: sum(1 for c in api_calls if c["endpoint"] == e)
            for e in ("create", "query", "retrieve")
        },
        "max_calls_per_window": busiest,
        "budget_window_s": window,
        "rpm_budget": rpm,
        # past the polls' share of the budget, polls waited for it
        "budget_held": busiest < int(rpm * POLL_SHARE),
        "poll_cap_s": poll_max,
    }
    failed_pushes = Counter(
        e["http_status"]
        for e in calls
        if e["endpoint"] == "callback_push" and not 200 <= e["http_status"] < 300
    )
    if failed_pushes:  # attempts the sandbox had to retry, by HTTP status (0: no answer)
        result["failed_push_attempts"] = dict(failed_pushes)
    if push_after:  # where the callback path spends its time: success in the sandbox ->
        # push sent; the push's round trip (the gateway records it before it answers);
        # push sent -> the gateway's record
        result["push_sent_after_s"] = spread(push_after)
        result["push_answered_in_s"] = spread(push_answer)
        result["recorded_after_push_s"] = spread(record_after_push)
    return result


def run_tracking(
    kind: str, tasks: int, sandbox_url: str, workdir: Path, cap: float, window: float
) -> dict[str, Any]:
    """One gateway tracking ``tasks`` running tasks seeded in its store (bench/tracking.py)."""
    import tracking

    upstream_ids = tracking.sandbox_tasks(sandbox_url, SANDBOX_KEY, tasks)
    with tracking.database(kind) as pg_url:
        port = free_port()
        gw_url = f"http://127.0.0.1:{port}"
        channels = workdir / f"channels-{kind}.toml"
        channels.write_text(
            '[[channels]]\nname = "sandbox"\nkind = "sandbox"\n'
            f'base_url = "{sandbox_url}"\napi_key = "{SANDBOX_KEY}"\nrpm = 10000000\n'
        )
        data = workdir / f"gw-track-{kind}"
        env = {
            "REELGATE_DATA_DIR": str(data),
            "REELGATE_CHANNELS_FILE": str(channels),
            "REELGATE_SANDBOX_ENABLED": "false",
            "REELGATE_BOOTSTRAP_API_KEY": API_KEY,
            "REELGATE_ADMIN_TOKEN": "rg-admin-fresh",
            "REELGATE_BOOTSTRAP_BALANCE": str(10**12),
            "REELGATE_POLL_MAX_S": str(cap),
        }
        if pg_url:
            env["REELGATE_DATABASE_URL"] = pg_url
        gateway = start(
            ["serve", "--port", str(port)], env, workdir / f"gw-{kind}.log", gw_url + "/readyz"
        )
        try:
            headers = {"Authorization": f"Bearer {API_KEY}"}
            httpx.post(
                gw_url + "/minimaxi/v1/video_generation", json=BODY, headers=headers, timeout=60
            ).raise_for_status()
            store = pg_url or str(data / "reelgate.db")
            target = Target(kind, gw_url, API_KEY, None, kind, store)  # type: ignore[arg-type]
            tracking.seed(target, upstream_ids, cap)
            result = tracking.measure(target, gateway.pid, sandbox_url, SANDBOX_KEY, window, cap)
        finally:
            stop(gateway)
    result["tasks"] = tasks
    return result


def tracking_main(args: argparse.Namespace, sandbox_url: str, workdir: Path) -> None:
    results = []
    for kind in args.databases.split(","):
        results.append(
            run_tracking(kind, args.tasks, sandbox_url, workdir, args.poll_max, args.window)
        )
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(f"{args.tasks} tasks running, polled at the cap ({args.poll_max:g} s)\n")
    cols = ["polls_per_s", "cpu_ms_per_poll", "core_share", "tasks_polled", "unpolled_past_cap"]
    cols += ["task_rows_updated_per_poll"]
    rows = [(r["database"], *(r.get(c, "n/a") for c in cols)) for r in results]
    print(table(["database", *cols], rows))
    path = write_results("tracking", {"results": results})
    print(f"\nwritten to {path}", file=sys.stderr)


def spread(values: list[float]) -> dict[str, float]:
    return {
        "p50": pct(values, 0.5),
        "p90": pct(values, 0.9),
        "p99": pct(values, 0.99),
        "max": max(values) if values else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1000, help="tasks kept in flight")
    parser.add_argument(
        "--timings", default="2,5,40", help="sandbox seconds in Preparing,Queueing,Processing"
    )
    parser.add_argument("--rpm", type=int, default=6000, help="the channel's budget per minute")
    parser.add_argument("--poll-max", type=float, default=30.0, help="the gateway's poll cap")
    parser.add_argument(
        "--modes", default="polling,callbacks", help="which runs: polling, callbacks"
    )
    parser.add_argument("--case", default="freshness", choices=["freshness", "tracking"])
    parser.add_argument("--databases", default="sqlite,postgres", help="tracking: stores")
    parser.add_argument("--window", type=float, default=60.0, help="tracking: measured s")
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep the temp dir: each process's log, the sandbox's call log and the tasks",
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.keep_logs:
            workdir = Path(tempfile.mkdtemp(prefix="reelgate-fresh-"))
            print(f"logs and the sandbox's call log kept in {workdir}", file=sys.stderr)
        else:
            workdir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="reelgate-fresh-"))
            )
        sb_port = free_port()
        sandbox_url = f"http://127.0.0.1:{sb_port}"
        sandbox = start(
            ["sandbox", "--port", str(sb_port), "--log-level", "warning"],
            {
                "REELGATE_DATA_DIR": str(workdir / "sandbox"),
                "REELGATE_SANDBOX_API_KEYS": json.dumps([SANDBOX_KEY]),
                "REELGATE_SANDBOX_RPM": "0",
                "REELGATE_SANDBOX_RENDER": "stub",
                "REELGATE_SANDBOX_TIMINGS": args.timings
                if args.case == "freshness"
                else "1,1,1000000",  # tracking: every task running throughout
                "REELGATE_SANDBOX_ALLOW_PRIVATE_URLS": "true",
            },
            workdir / "sandbox.log",
            sandbox_url + "/docs",
        )
        if args.case == "tracking":
            try:
                tracking_main(args, sandbox_url, workdir)
            finally:
                stop(sandbox)
            return
        results = []
        try:
            for mode in args.modes.split(","):
                results.append(
                    run_mode(mode, args.tasks, sandbox_url, workdir, args.rpm, args.poll_max)
                )
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
        finally:
            stop(sandbox)
    rows = [
        (
            r["mode"],
            r["succeeded"],
            r["lag_s"]["p50"],
            r["lag_s"]["p90"],
            r["lag_s"]["p99"],
            r["lag_s"]["max"],
            r["lag_over_cap"],
            r["queries_per_task"],
            f"{r['max_calls_per_window']}/{r['rpm_budget']}",
            "yes" if r["budget_held"] else "no: polls waited for it",
        )
        for r in results
    ]
    print(
        f"{args.tasks} tasks in flight on one channel; sandbox timings {args.timings} s; "
        f"poll cap {args.poll_max:g} s; budget {args.rpm} calls/min\n"
    )
    print(
        table(
            [
                "mode",
                "tasks",
                "lag p50 s",
                "lag p90 s",
                "lag p99 s",
                "lag max s",
                f"lags > cap ({args.poll_max:g} s)",
                "queries/task",
                "calls in busiest min / budget",
                "budget held",
            ],
            rows,
        )
    )
    pushed = [r for r in results if "push_sent_after_s" in r]
    if pushed:
        print("\nWhere the callback path spends its time (seconds, p50 / p99 / max):\n")
        print(
            table(
                ["mode", "success -> push sent", "push answered in", "push sent -> recorded"],
                [
                    (
                        r["mode"],
                        *(
                            "{p50:.3f} / {p99:.3f} / {max:.3f}".format(**r[k])
                            for k in (
                                "push_sent_after_s",
                                "push_answered_in_s",
                                "recorded_after_push_s",
                            )
                        ),
                    )
                    for r in pushed
                ],
            )
        )
    path = write_results("freshness", {"timings": args.timings, "results": results})
    print(f"\nwritten to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
