"""The load generator: wrk (one thread, closed loop) with a Lua script that checks every
answer, what a run measured (``Load``), percentiles, and wrk's correction undone."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procs import Proc, busy_seconds

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


def children_cpu_s() -> float:
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
    cpu0, target0 = children_cpu_s(), watch.cpu_s() if watch else 0.0
    busy0, own0 = busy_seconds(), own_cpu() if own_cpu else 0.0
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    finally:
        os.unlink(script_path)
    target_cpu = (watch.cpu_s() - target0) if watch else 0.0
    load_cpu = children_cpu_s() - cpu0
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
