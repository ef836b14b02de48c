"""CPU placement: which CPUs the target under test gets, which the load generator gets,
and the sandbox's render workers kept where the placement says."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
from dataclasses import dataclass
from typing import Any

from procs import Proc, set_affinity, set_idle


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
