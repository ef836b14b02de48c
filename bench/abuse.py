"""Isolation under abuse: how one tenant's attack changes another tenant's service.

Targets, all in one run, each measured quiet and then under attack:
  direct    the sandbox alone (``reelgate sandbox``), MiniMax's API answered directly
  reelgate  ``reelgate serve`` in front of that same sandbox (SQLite, or PostgreSQL)
  litellm   LiteLLM's proxy, a pass-through endpoint in front of that same sandbox

The victim has a key (and, on reelgate, an account) of its own and queries its own tasks
with wrk, a different task at each request. The attacker, with another key, sends from
the benchmark's process at the same time:
  bombs     creates whose first_frame_image is a few-KB lossless WebP that decodes to
            16383x5460 pixels (268 MB of RGB), ``--bombs`` at a time;
  bad URLs  creates whose first_frame_image is ``http://93.184.216.34:99999/a.png`` (a
            port out of range), ``--bad-urls`` at a time;
  slow      ``--slow`` connections that send one header line a second and never finish.
Each attack runs twice: paced (``--rate`` creates a second of each kind, far more than the
handful that froze or cooled down the gateway before issue 13) and as a flood (each
attacking connection sends its next create as soon as the last is answered: what a key
without an ``rpm_limit`` may do). After each attacked run the victim makes one create:
whether it still goes through tells whether the attack took the shared upstream channel
out of service.

Run: ``.venv/bin/python bench/abuse.py`` (``--help`` for the options). Prints a Markdown
table and writes bench/results/abuse.json.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from config import ADMIN_TOKEN, CREATE_BODY, LITELLM_KEY
from lab import Lab, start_targets
from load import Load, require_wrk, wrk
from options import base_parser
from output import log, table, write_results
from placement import Placement
from targets import Target

ATTACKER_SANDBOX_KEY = "bench-attacker-key"
BAD_URL = "http://93.184.216.34:99999/a.png"
GOAL_P99_RATIO = 2.0  # the victim's p99 under attack at most this many times the quiet one


def parse_args() -> Any:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=6, help="seconds per wrk run")
    parser.add_argument(
        "--rounds", type=int, default=2, help="quiet and attacked runs per target and attack"
    )
    parser.add_argument("--connections", type=int, default=4, help="the victim's wrk clients")
    parser.add_argument("--tasks", type=int, default=50, help="tasks the victim queries in turn")
    parser.add_argument("--bombs", type=int, default=4, help="image-bomb creates at a time")
    parser.add_argument("--bad-urls", type=int, default=2, help="malformed-URL creates at a time")
    parser.add_argument("--slow", type=int, default=50, help="slow connections held open")
    parser.add_argument(
        "--rate", type=float, default=20.0, help="paced attack: creates a second of each kind"
    )
    parser.add_argument(
        "--modes", default="paced,flood", help="attacks to run: paced, flood (or both)"
    )
    parser.add_argument(
        "--databases", default="sqlite", help="reelgate stores to compare: sqlite,postgres"
    )
    return parser.parse_args()


def bomb_data_url() -> str:
    """A lossless WebP of one colour at WebP's largest size: tiny on the wire, 268 MB of
    pixels once decoded."""
    from PIL import Image

    img = Image.new("RGB", (16383, 5460), (90, 120, 200))
    buf = io.BytesIO()
    img.save(buf, "WEBP", lossless=True, quality=0, method=0)
    return "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode()


@dataclass
class Attack:
    """The attacker's three kinds of load, run on an event loop of its own (a thread)."""

    target: Target
    key: str
    bomb: str
    bombs: int
    bad_urls: int
    slow: int
    rate: float  # creates a second of each kind; 0: as fast as they are answered
    answers: Counter[str] = field(default_factory=Counter)
    slow_closed: int = 0
    seconds: float = 0.0  # how long it ran
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Attack:
        self.seconds = -time.monotonic()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(60)
        self.seconds += time.monotonic()

    async def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        limits = httpx.Limits(max_connections=self.bombs + self.bad_urls + 4)
        async with httpx.AsyncClient(
            headers=headers, timeout=60, limits=limits, trust_env=False
        ) as client:
            jobs = [
                self._creates(client, "bomb", {"first_frame_image": self.bomb}, self.bombs)
                for _ in range(self.bombs)
            ]
            jobs += [
                self._creates(client, "bad_url", {"first_frame_image": BAD_URL}, self.bad_urls)
                for _ in range(self.bad_urls)
            ]
            jobs += [self._slow_connection() for _ in range(self.slow)]
            await asyncio.gather(*jobs)

    async def _creates(
        self, client: httpx.AsyncClient, kind: str, extra: Mapping[str, Any], workers: int
    ) -> None:
        body = {**CREATE_BODY, "model": "MiniMax-Hailuo-02", **extra}
        interval = workers / self.rate if self.rate > 0 else 0.0
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not self._stop.is_set():
            if interval:
                due += interval
                await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                resp = await client.post(self.target.create_url, json=body)
                code = _code(resp)
                self.answers[f"{kind}: HTTP {resp.status_code} code {code}"] += 1
            except httpx.HTTPError as exc:
                self.answers[f"{kind}: {exc.__class__.__name__}"] += 1
                await asyncio.sleep(0.1)

    async def _slow_connection(self) -> None:
        url = urlsplit(self.target.create_url)
        while not self._stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(url.hostname, url.port)
            except OSError:
                await asyncio.sleep(0.5)
                continue
            try:
                writer.write(f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n".encode())
                n = 0
                while not self._stop.is_set() and not reader.at_eof():
                    writer.write(f"X-Slow-{n}: {n}\r\n".encode())
                    await writer.drain()
                    n += 1
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            if await reader.read(1024) == b"":
                                break
                self.slow_closed += 1 if not self._stop.is_set() else 0
            except OSError:
                self.slow_closed += 1
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()


def _code(resp: httpx.Response) -> Any:
    try:
        data = resp.json()
    except ValueError:
        return "-"
    if isinstance(data, dict):
        if "base_resp" in data:
            return data["base_resp"].get("status_code")
        if isinstance(data.get("error"), dict):
            return data["error"].get("code")
    return "-"


def attacker_key(target: Target) -> str:
    """A key of the attacker's own: another sandbox key, another reelgate account (LiteLLM
    in pass-through has one key for everyone)."""
    if target.name == "direct":
        return ATTACKER_SANDBOX_KEY
    if target.name == "litellm":
        return LITELLM_KEY
    admin = target.base.split("/minimaxi/")[0] + "/admin/v1"
    with httpx.Client(
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30, trust_env=False
    ) as client:
        account = client.post(
            f"{admin}/accounts", json={"name": "attacker", "initial_credit": 10**12}
        )
        account.raise_for_status()
        key = client.post(f"{admin}/accounts/{account.json()['id']}/keys", json={"name": "a"})
        key.raise_for_status()
        return str(key.json()["key"])


def victim_tasks(target: Target, n: int, direct_ids: list[str] | None) -> list[str]:
    if target.name == "litellm" and direct_ids is not None:
        return direct_ids  # it passes the sandbox's own ids through
    return [target.create_task() for _ in range(n)]


def victim_create(target: Target) -> str:
    """One create by the victim: 'ok', or the code it was refused with."""
    resp = httpx.post(target.create_url, headers=target.headers, json=CREATE_BODY, timeout=60)
    code = _code(resp)
    return "ok" if resp.status_code == 200 and code == 0 else f"HTTP {resp.status_code} {code}"


def measure(lab: Lab, target: Target, ids: list[str], args: Any, attack: Attack | None) -> Load:
    lab.place(target)
    lab.wait_quiet(args.quiet, args.quiet_wait)
    peak = [target.proc.rss_kib()]

    def watch(stop: threading.Event) -> None:
        while not stop.wait(0.1):
            peak[0] = max(peak[0], target.proc.rss_kib())

    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(stop,), daemon=True)
    watcher.start()
    with attack or contextlib.nullcontext():
        if attack is not None:
            time.sleep(1.0)  # let the attack build up before measuring
        load = wrk(
            target.query_url(ids[0]),
            paths=[target.query_path(i) for i in ids],
            connections=args.connections,
            duration=args.duration,
            headers=target.headers,
            cpus=lab.placement.load,
            watch=target.proc,
            script_dir=lab.tmp,
            own_cpu=lab.own_cpu_s,
        )
    stop.set()
    watcher.join()
    load.peak_rss_mib = peak[0] / 1024  # type: ignore[attr-defined]
    return load


def main() -> None:
    args = parse_args()
    require_wrk()
    placement = Placement.from_args(args)
    bomb = bomb_data_url()
    log(f"image bomb: {len(bomb) * 3 // 4} bytes decoding to 16383x5460")
    rows: list[list[Any]] = []
    results: dict[str, Any] = {}
    with Lab(placement, keep_logs=args.keep_logs, rev=args.rev) as lab:
        targets, skipped = start_targets(
            lab, args.databases.split(","), args.litellm, extra_sandbox_keys=[ATTACKER_SANDBOX_KEY]
        )
        direct_ids: list[str] | None = None
        for target in targets:
            ids = victim_tasks(target, args.tasks, direct_ids)
            if target.name == "direct":
                direct_ids = ids
            key = attacker_key(target)
            for mode in args.modes.split(","):
                # quiet and attacked runs alternate, round by round: the machine drifts
                quiet, attacked, answers = Load(), Load(), Counter[str]()
                peak, slow_closed, attack_s = 0.0, 0, 0.0
                for n in range(args.rounds):
                    log(f"{target.name}: quiet run {n + 1}/{args.rounds}")
                    quiet += measure(lab, target, ids, args, None)
                    attack = Attack(
                        target,
                        key,
                        bomb,
                        bombs=args.bombs,
                        bad_urls=args.bad_urls,
                        slow=args.slow,
                        rate=args.rate if mode == "paced" else 0.0,
                    )
                    log(f"{target.name}: under attack ({mode}) {n + 1}/{args.rounds}")
                    run = measure(lab, target, ids, args, attack)
                    attacked += run
                    peak = max(peak, getattr(run, "peak_rss_mib", 0.0))
                    answers.update(attack.answers)
                    slow_closed += attack.slow_closed
                    attack_s += attack.seconds
                after = victim_create(target)
                # no answer at all while attacked: the victim was shut out (an infinite ratio)
                ratio = attacked.ms(99) / quiet.ms(99) if attacked.requests else float("inf")
                sent = sum(answers.values()) / attack_s
                rows.append(
                    [
                        target.name,
                        mode,
                        sent,
                        quiet.rps,
                        quiet.ms(99),
                        attacked.rps,
                        attacked.ms(50),
                        attacked.ms(99),
                        ratio,
                        attacked.errors,
                        peak,
                        after,
                    ]
                )
                results[f"{target.name}/{mode}"] = {
                    "quiet": quiet.summary(),
                    "attacked": attacked.summary(),
                    "attack_creates_per_s": round(sent, 1),
                    "p99_ratio": round(ratio, 3),
                    "peak_rss_mib_attacked": round(peak, 1),
                    "victim_create_after_attack": after,
                    "attacker_answers": dict(answers),
                    "slow_connections_closed_by_target": slow_closed,
                }
                for answer, count in sorted(answers.items()):
                    log(f"  attacker: {answer}: {count}")
                log(f"  slow connections the target closed: {slow_closed}")
    headers = [
        "target",
        "attack",
        "attack creates/s",
        "quiet req/s",
        "quiet p99 ms",
        "attacked req/s",
        "attacked p50 ms",
        "attacked p99 ms",
        "p99 ratio",
        "victim errors",
        "peak RSS MiB",
        "victim create after",
    ]
    print(table(headers, rows))
    print(
        f"\nGoal: under the paced attack the victim's p99 within {GOAL_P99_RATIO}x of the quiet "
        "run; after any attack its create goes through. A flood costs CPU per refused request "
        "on the same core: a key's rpm_limit bounds it."
    )
    path = write_results(
        args.output or "abuse",
        {
            "args": vars(args),
            "placement": placement.describe(),
            "skipped": skipped,
            "results": results,
        },
    )
    log(f"wrote {path}")
    print(json.dumps({k: v["attacker_answers"] for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
