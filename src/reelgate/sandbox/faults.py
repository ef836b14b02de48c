"""Injected faults: what goes wrong, how often, and reproducibly so.

A plan gives each fault kind a rate between 0 and 1, written like
``"refuse_1002=0.1,http_5xx=0.05,forget=0.05"``, and a seed. Whether a fault hits is never
drawn from a random generator: it is a hash of (seed, kind, the call's identity), where the
identity is the account, the endpoint and that account's running count of calls to the
endpoint (``<account>/create/7``). The same seed and the same sequence of requests therefore
give the same faults, whatever the timing. Faults that shape a task (``fail_midway``,
``forget``, ``download_404``) are decided on its create call and kept in its record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reelgate.errors import InvalidParams, RateLimited, ReelgateError, SensitiveContent
from reelgate.sandbox.ratelimit import RATE_LIMIT_MESSAGE

FAIL_MIDWAY_CODE = 1027
FAIL_MIDWAY_MESSAGE = "output new_sensitive"


class FaultKind(StrEnum):
    REFUSE_1002 = "refuse_1002"  # create answers base_resp 1002 (rate limit)
    REFUSE_1000 = "refuse_1000"  # create answers base_resp 1000 (unknown error)
    REFUSE_1026 = "refuse_1026"  # create answers base_resp 1026 (input sensitive)
    HTTP_5XX = "http_5xx"  # any API call answers HTTP 500, 502 or 503
    SLOW = "slow"  # any API call answers normally after slow_s seconds
    TIMEOUT = "timeout"  # any API call hangs for hang_s or until the client gives up
    FAIL_MIDWAY = "fail_midway"  # the task fails with 1027 halfway through Processing
    FORGET = "forget"  # the task vanishes when it would start Processing
    DOWNLOAD_404 = "download_404"  # the first download of the task's video answers 404


ALIASES = {"http_500": FaultKind.HTTP_5XX}
REFUSALS = (FaultKind.REFUSE_1002, FaultKind.REFUSE_1000, FaultKind.REFUSE_1026)
# at most one of these shapes a task, in this order of precedence
TASK_FAULTS = (FaultKind.FORGET, FaultKind.FAIL_MIDWAY, FaultKind.DOWNLOAD_404)
# v1's endpoints, and v2's (their call counts are their own: v2's creates are counted apart)
CREATES = frozenset({"create", "v2_create"})
FAULTED_ENDPOINTS = CREATES | {
    "query",
    "retrieve",
    "retrieve_content",
    "v2_query",
    "v2_list",
    "v2_delete",
}
# v2 words two refusals as its reference's table does (section 9); the code is the same
V2_REFUSAL_MESSAGES = {
    FaultKind.REFUSE_1000: "internal error",
    FaultKind.REFUSE_1026: "video description contains sensitive content",
}


def _kind(name: str) -> FaultKind:
    key = name.strip().lower()
    if key in ALIASES:
        return ALIASES[key]
    try:
        return FaultKind(key)
    except ValueError:
        known = ", ".join([*FaultKind, *ALIASES])
        raise InvalidParams(f"invalid params, unknown fault {name!r}; known: {known}") from None


def _rate(name: str, value: Any) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise InvalidParams(f"invalid params, the rate of {name!r} is not a number") from None
    if not 0.0 <= rate <= 1.0:
        raise InvalidParams(f"invalid params, the rate of {name!r} must be between 0 and 1")
    return rate


def parse_rates(spec: str | Mapping[str, Any]) -> dict[FaultKind, float]:
    """``"a=0.1,b=0.2"`` or ``{"a": 0.1}`` to rates by kind; raises InvalidParams."""
    pairs: list[tuple[str, Any]]
    if isinstance(spec, str):
        pairs = []
        for item in spec.split(","):
            if not item.strip():
                continue
            name, sep, value = item.partition("=")
            if not sep:
                raise InvalidParams(f"invalid params, fault {item.strip()!r} needs '=<rate>'")
            pairs.append((name, value))
    else:
        pairs = list(spec.items())
    rates = {_kind(name): _rate(name, value) for name, value in pairs}
    return {kind: rate for kind, rate in rates.items() if rate > 0}


def chance(seed: int, kind: str, identity: str) -> float:
    """A number in [0, 1) fixed by its inputs: the dice of the fault plan."""
    digest = hashlib.sha256(f"{seed}\n{kind}\n{identity}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True, slots=True)
class FaultPlan:
    rates: Mapping[FaultKind, float] = field(default_factory=dict)
    seed: int = 0
    slow_s: float = 2.0
    hang_s: float = 60.0

    @classmethod
    def parse(
        cls,
        spec: str | Mapping[str, Any],
        *,
        seed: int = 0,
        slow_s: float = 2.0,
        hang_s: float = 60.0,
    ) -> FaultPlan:
        return cls(parse_rates(spec), seed, slow_s, hang_s)

    def hits(self, kind: FaultKind, identity: str) -> bool:
        rate = self.rates.get(kind, 0.0)
        return rate > 0 and chance(self.seed, kind.value, identity) < rate

    @property
    def spec(self) -> str:
        return ",".join(f"{kind.value}={rate:g}" for kind, rate in self.rates.items())

    def as_json(self) -> dict[str, Any]:
        return {
            "faults": {kind.value: rate for kind, rate in self.rates.items()},
            "spec": self.spec,
            "seed": self.seed,
            "slow_s": self.slow_s,
            "hang_s": self.hang_s,
        }


@dataclass(frozen=True, slots=True)
class HttpFault:
    status: int
    body: bytes
    media_type: str


# What a broken edge answers: JSON from the application, HTML from a proxy, text from a mesh.
HTTP_FAULTS = (
    HttpFault(
        500,
        b'{"base_resp":{"status_code":1000,"status_msg":"unknown error"}}',
        "application/json",
    ),
    HttpFault(
        502,
        b"<html><head><title>502 Bad Gateway</title></head>"
        b"<body><center><h1>502 Bad Gateway</h1></center></body></html>",
        "text/html",
    ),
    HttpFault(
        503,
        b"upstream connect error or disconnect/reset before headers. reset reason: overflow",
        "text/plain",
    ),
)


def _refusal(kind: FaultKind, api: str) -> ReelgateError:
    if kind is FaultKind.REFUSE_1002:
        return RateLimited(RATE_LIMIT_MESSAGE)
    v2 = V2_REFUSAL_MESSAGES.get(kind) if api == "v2" else None
    if kind is FaultKind.REFUSE_1026:
        return SensitiveContent(v2 or "input new_sensitive")
    return ReelgateError(v2 or "unknown error")  # code 1000


@dataclass(frozen=True, slots=True)
class CallFaults:
    """What the plan decided for one call (nothing, for most calls)."""

    http: HttpFault | None = None
    hang: bool = False
    slow: bool = False
    refusal: FaultKind | None = None
    task: tuple[FaultKind, ...] = ()

    @property
    def names(self) -> list[str]:
        out = []
        if self.http is not None:
            out.append(FaultKind.HTTP_5XX.value)
        if self.hang:
            out.append(FaultKind.TIMEOUT.value)
        if self.slow:
            out.append(FaultKind.SLOW.value)
        if self.refusal is not None:
            out.append(self.refusal.value)
        return out

    def refuse(self, api: str = "v1") -> None:
        if self.refusal is not None:
            raise _refusal(self.refusal, api)


NO_FAULTS = CallFaults()


class Faults:
    """The sandbox's current plan and the per-account call counts its decisions hash."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.plan = plan or FaultPlan()
        self._counts: dict[tuple[str, str], int] = {}

    def configure(self, plan: FaultPlan) -> None:
        """Use ``plan`` from now on; call counts start again, so a run can be replayed."""
        self.plan = plan
        self._counts.clear()

    def for_call(self, account: str, endpoint: str) -> CallFaults:
        if endpoint not in FAULTED_ENDPOINTS:
            return NO_FAULTS
        n = self._counts.get((account, endpoint), 0)
        self._counts[(account, endpoint)] = n + 1
        plan = self.plan
        if not plan.rates:
            return NO_FAULTS
        identity = f"{account}/{endpoint}/{n}"
        if plan.hits(FaultKind.HTTP_5XX, identity):
            pick = int(chance(plan.seed, "http_5xx_variant", identity) * len(HTTP_FAULTS))
            return CallFaults(http=HTTP_FAULTS[pick])
        if plan.hits(FaultKind.TIMEOUT, identity):
            return CallFaults(hang=True)
        slow = plan.hits(FaultKind.SLOW, identity)
        if endpoint not in CREATES:
            return CallFaults(slow=slow)
        refusal = next((k for k in REFUSALS if plan.hits(k, identity)), None)
        if refusal is not None:
            return CallFaults(slow=slow, refusal=refusal)
        task = next((k for k in TASK_FAULTS if plan.hits(k, identity)), None)
        return CallFaults(slow=slow, task=(task,) if task else ())
