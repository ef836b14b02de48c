"""Every MiniMax status code the gateway knows, in one table that every caller reads.

A row says what the code means and what the gateway does with it:

- whose fault it is (``Fault``), which decides channel health (``services/channels.py``):
  the request's content (passed back to the client, never tried on another channel,
  health untouched), the upstream account's own (its key, balance or quota: another
  channel may take the task, the channel cools down for everyone, and the client is not
  shown the code as if it were about its own account), the upstream account's rate limit
  (as an account fault, and the channel's polls wait too), or ambiguous (the request's
  content may have caused it: only the (channel, client account) pair cools down, and
  the channel takes a strike);
- whether it is transient: the same request may succeed later, so an ``Idempotency-Key``
  keeps no answer of it and a retry runs again;
- whether MiniMax puts it in ``base_resp`` next to status ``Fail`` (a failed task's code
  the query and the push show);
- the HTTP status MiniMax's v2 API pairs with it, and so its ``error.type``.

Sources: shared/reference/minimax-v1-api.md section 4.1 (the v1 table, and the codes seen
in clients) and minimax-v2-api.md section 9 (the v2 statuses). A code missing from the
table is read as ``unknown(code)``: ambiguous, not transient, HTTP 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType


class Fault(Enum):
    """Whose fault a refusal is, as channel health reads it."""

    REQUEST = "request"  # what the client sent
    ACCOUNT = "account"  # the channel's upstream account: its key, balance or quota
    RATE_LIMIT = "rate_limit"  # the channel's upstream account asked us to slow down
    AMBIGUOUS = "ambiguous"  # either: one client's content may have caused it


# MiniMax v2 answers an error with a real HTTP status and this ``error.type`` (v2 ref. 9).
V2_ERROR_TYPES = MappingProxyType(
    {
        400: "bad_request_error",
        401: "authorized_error",
        402: "insufficient_balance_error",
        422: "unprocessable_entity_error",
        429: "rate_limit_error",
        500: "server_error",
        529: "overloaded_error",
    }
)

# -- the codes the gateway itself names ---------------------------------------------------

UNKNOWN = 1000
TIMEOUT = 1001
RATE_LIMITED = 1002
UNAUTHORIZED = 1004
INSUFFICIENT_BALANCE = 1008
INPUT_SENSITIVE = 1026
OUTPUT_SENSITIVE = 1027
INVALID_PARAMS = 2013
INVALID_API_KEY = 2049

# What the gateway writes into a task it fails itself, and what it reads:
DEADLINE = TIMEOUT  # a task still unfinished at its deadline
NOT_FOUND = INVALID_PARAMS  # what MiniMax answers for a task or file id it does not know
LOST = UNKNOWN  # a task the upstream accepted and then stopped knowing
INTERRUPTED = UNKNOWN  # a submit cut off before the upstream answered
FAILED_WITHOUT_CODE = UNKNOWN  # a "Fail" the upstream gave no code for
# Shown to the client instead of an upstream account's own fault (``hidden_from_client``):
# the gateway's account is out of balance or refused, not the client's.
ACCOUNT_FAULT_SHOWN_AS = UNKNOWN


@dataclass(frozen=True, slots=True)
class UpstreamCode:
    code: int
    meaning: str
    fault: Fault
    transient: bool = False  # the same request may succeed later
    rides_with_fail: bool = False  # in base_resp next to status "Fail"
    v2_status: int = 500

    @property
    def fails_over(self) -> bool:
        """Whether another channel may take the task: unless the request is at fault."""
        return self.fault is not Fault.REQUEST

    @property
    def channel_fault(self) -> bool:
        """Whether it cools the channel down at once, for every client."""
        return self.fault in (Fault.ACCOUNT, Fault.RATE_LIMIT)

    @property
    def throttles(self) -> bool:
        """Whether the channel's polls wait too (the upstream asked us to slow down)."""
        return self.fault is Fault.RATE_LIMIT

    @property
    def hidden_from_client(self) -> bool:
        """Whether the client is told something else: an upstream account's own fault is
        never shown as if it were about the client's key or balance."""
        return self.fault is Fault.ACCOUNT

    @property
    def shown_as(self) -> int:
        """The code the client is shown when this refusal is the last word."""
        return ACCOUNT_FAULT_SHOWN_AS if self.hidden_from_client else self.code

    @property
    def v2_type(self) -> str:
        return V2_ERROR_TYPES[self.v2_status]


def _table(*rows: UpstreamCode) -> MappingProxyType[int, UpstreamCode]:
    table = {row.code: row for row in rows}
    if len(table) != len(rows):
        raise ValueError("a code is listed twice")
    for row in rows:
        if row.v2_status not in V2_ERROR_TYPES:
            raise ValueError(f"{row.code}: v2 has no error type for HTTP {row.v2_status}")
    return MappingProxyType(table)


_R, _A, _L, _X = Fault.REQUEST, Fault.ACCOUNT, Fault.RATE_LIMIT, Fault.AMBIGUOUS

CODES = _table(
    UpstreamCode(1000, "unknown error", _X, transient=True),
    UpstreamCode(1001, "request timeout", _X, transient=True),
    UpstreamCode(1002, "rate limit (requests per minute)", _L, transient=True, v2_status=429),
    UpstreamCode(1004, "not authorized: the API key or its group", _A, v2_status=401),
    UpstreamCode(1008, "insufficient balance", _A, v2_status=402),
    UpstreamCode(1013, "internal service error", _X, transient=True),
    UpstreamCode(1024, "internal error", _X, transient=True),
    UpstreamCode(1026, "input sensitive", _R, rides_with_fail=True, v2_status=422),
    UpstreamCode(1027, "output sensitive", _R, rides_with_fail=True, v2_status=422),
    UpstreamCode(1028, "quota exhausted", _A, v2_status=402),
    UpstreamCode(1030, "quota exhausted", _A, v2_status=402),
    UpstreamCode(1033, "system error (a downstream service)", _X, transient=True),
    # a rate limit by MiniMax's table, but read as ambiguous: it has always cooled only
    # the pair, not the channel for everyone
    UpstreamCode(1039, "token limit (tokens per minute)", _X, transient=True, v2_status=429),
    UpstreamCode(1041, "connection limit", _X, v2_status=429),
    UpstreamCode(1042, "invisible character ratio limit", _R, v2_status=400),
    UpstreamCode(2013, "invalid params", _R, v2_status=400),
    UpstreamCode(2038, "real-name verification required", _A, v2_status=401),
    UpstreamCode(2049, "invalid API key", _A, v2_status=401),
    UpstreamCode(2056, "usage limit exceeded (5-hour window)", _A, v2_status=429),
)


def unknown(code: int) -> UpstreamCode:
    """The row of a code the table lacks: nothing known, so nobody is blamed for sure."""
    return UpstreamCode(code, "not in the gateway's table", Fault.AMBIGUOUS)


def row(code: int) -> UpstreamCode:
    return CODES.get(code) or unknown(code)


# The sets callers used to keep for themselves, derived.
REQUEST_FAULTS = frozenset(c for c, r in CODES.items() if r.fault is Fault.REQUEST)
ACCOUNT_FAULTS = frozenset(c for c, r in CODES.items() if r.fault is Fault.ACCOUNT)
CHANNEL_FAULTS = frozenset(c for c, r in CODES.items() if r.channel_fault)
TRANSIENT = frozenset(c for c, r in CODES.items() if r.transient)
RIDES_WITH_FAIL = frozenset(c for c, r in CODES.items() if r.rides_with_fail)
