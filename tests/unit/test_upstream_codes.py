"""The one table of MiniMax's codes (domain/upstream_codes.py) and the callers that read it:
channel health, failover, what the client is shown, idempotency, a failed task's
``base_resp`` and the v2 statuses. Every code the code base names is in the table."""

from __future__ import annotations

import ast
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reelgate import errors
from reelgate.api.idempotency import _keep
from reelgate.blobs.base import StorageError
from reelgate.domain import upstream_codes as codes
from reelgate.domain.channels import Channel, ChannelKind, Cooldown
from reelgate.domain.tasks import Task, TaskStatus, UpstreamStatus
from reelgate.domain.upstream_codes import CODES, Fault, row
from reelgate.errors import UpstreamError, UpstreamRejected
from reelgate.providers.base import Provider
from reelgate.providers.fake import FakeUpstream
from reelgate.services.channels import ChannelRouter, fault_kind
from reelgate.services.limits import LocalRateLimiter

SRC = Path(__file__).resolve().parents[2] / "src" / "reelgate"
ROWS = sorted(CODES)
NOT_LISTED = 1043  # a MiniMax code (voice cloning) the gateway has no use for
CALLS_WITH_A_CODE = {"UpstreamRejected", "refuse_next", "fail", "error_body"}


# -- every code named is known -----------------------------------------------------------


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""


def _ints(node: ast.AST | None) -> list[int]:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return [node.value]
    if isinstance(node, ast.Set | ast.Tuple | ast.List):
        return [v for e in node.elts for v in _ints(e)]
    if isinstance(node, ast.Call) and _name(node.func) == "frozenset":
        return [v for a in node.args for v in _ints(a)]
    return []


def _codes_in(node: ast.AST) -> list[int]:
    """The MiniMax codes a statement names as literals: ``code = N``, ``X_CODE(S) = ...``,
    ``UpstreamRejected(N, ...)`` and its kin, ``code == N`` / ``code in {...}``."""
    if isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [_name(t) for t in targets]
        if any(n == "code" or "CODE" in n or n == "NOT_FOUND" for n in names):
            return _ints(node.value)
    if isinstance(node, ast.Call) and _name(node.func) in CALLS_WITH_A_CODE and node.args:
        return _ints(node.args[0])
    if isinstance(node, ast.Compare) and _name(node.left) in ("code", "error_code"):
        return [v for c in node.comparators for v in _ints(c)]
    return []


def named_codes() -> dict[int, list[str]]:
    """code -> where the source names it (MiniMax's codes are 1000 and up)."""
    found: dict[int, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            for code in _codes_in(node):
                if code >= 1000:
                    where = f"{path.relative_to(SRC)}:{getattr(node, 'lineno', 0)}"
                    found.setdefault(code, []).append(where)
    return found


def test_every_code_the_source_names_is_in_the_table() -> None:
    named = named_codes()
    assert {1000, 1027, 2013} <= set(named)  # the scan finds what is there
    unknown = {code: where for code, where in named.items() if code not in CODES}
    assert unknown == {}


def _error_classes(cls: type[errors.ReelgateError]) -> list[type[errors.ReelgateError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _error_classes(sub))]


def test_every_error_of_the_tree_carries_a_code_of_the_table() -> None:
    classes = _error_classes(errors.ReelgateError)
    assert StorageError in classes and errors.UpstreamTimeout in classes
    assert {c.__name__: c.code for c in classes if c.code not in CODES} == {}


def test_the_gateways_own_codes_are_in_the_table() -> None:
    own = {
        name: value for name, value in vars(codes).items() if name.isupper() and type(value) is int
    }
    assert len(own) >= 15
    assert {name: value for name, value in own.items() if value not in CODES} == {}
    assert (codes.DEADLINE, codes.NOT_FOUND, codes.LOST, codes.INTERRUPTED) == (
        1001,
        2013,
        1000,
        1000,
    )
    assert codes.FAILED_WITHOUT_CODE == 1000


def test_the_error_tree_reads_its_codes_from_the_table() -> None:
    assert errors.RETRYABLE_UPSTREAM_CODES == codes.TRANSIENT
    assert (errors.InvalidApiKey.code, errors.Unauthorized.code) == (2049, 1004)
    assert errors.UpstreamUnavailable.code == codes.ACCOUNT_FAULT_SHOWN_AS


# -- the rows ----------------------------------------------------------------------------


def test_the_sets_the_callers_kept_are_the_tables() -> None:
    derived = {
        "request": codes.REQUEST_FAULTS,
        "account": codes.ACCOUNT_FAULTS,
        "channel": codes.CHANNEL_FAULTS,
        "transient": codes.TRANSIENT,
        "with Fail": codes.RIDES_WITH_FAIL,
    }
    assert derived == {
        "request": {2013, 1026, 1027, 1042},
        "account": {1004, 2049, 1008, 2056, 1028, 1030, 2038},
        "channel": {1004, 2049, 1008, 2056, 1028, 1030, 2038, 1002},
        "transient": {1000, 1001, 1002, 1013, 1024, 1033, 1039},
        "with Fail": {1026, 1027},
    }


def test_a_code_missing_from_the_table_blames_nobody_for_sure() -> None:
    assert NOT_LISTED not in CODES
    missing = row(NOT_LISTED)
    assert (missing.code, missing.fault, missing.transient) == (NOT_LISTED, Fault.AMBIGUOUS, False)
    assert (missing.rides_with_fail, missing.shown_as, missing.v2_type) == (
        False,
        NOT_LISTED,
        "server_error",
    )
    assert missing.meaning == "not in the gateway's table"
    assert row(1026) is CODES[1026]


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (2013, 400, "bad_request_error"),
        (1004, 401, "authorized_error"),
        (2049, 401, "authorized_error"),
        (1008, 402, "insufficient_balance_error"),
        (1026, 422, "unprocessable_entity_error"),
        (1002, 429, "rate_limit_error"),
        (1000, 500, "server_error"),
    ],
)
def test_the_v2_status_and_type_are_minimaxs(code: int, status: int, kind: str) -> None:
    """MiniMax v2 reference, section 9: each example message's code and its status."""
    assert (CODES[code].v2_status, CODES[code].v2_type) == (status, kind)


def test_a_v2_status_without_an_error_type_is_refused() -> None:
    with pytest.raises(ValueError, match="HTTP 403"):
        codes._table(codes.UpstreamCode(9999, "x", Fault.REQUEST, v2_status=403))
    with pytest.raises(ValueError, match="twice"):
        codes._table(*(codes.UpstreamCode(9999, "x", Fault.REQUEST),) * 2)


# -- what the callers do with a row ------------------------------------------------------


@pytest.mark.parametrize("code", [*ROWS, NOT_LISTED])
def test_whose_fault_decides_channel_health(code: int) -> None:
    expected = {
        Fault.REQUEST: "request",
        Fault.ACCOUNT: "channel",
        Fault.RATE_LIMIT: "channel",
        Fault.AMBIGUOUS: "ambiguous",
    }[row(code).fault]
    assert fault_kind(UpstreamRejected(code, "upstream says")) == expected


class Channels:
    def __init__(self, *names: str) -> None:
        self.channels = [Channel(n, ChannelKind.SANDBOX, f"http://{n}.invalid", "k") for n in names]

    async def list(self) -> list[Channel]:
        return self.channels

    async def in_flight(self) -> dict[str, int]:
        return {}


NOW = 1000.0


async def router(*names: str) -> ChannelRouter:
    r = ChannelRouter(
        store=Channels(*names),  # type: ignore[arg-type]
        providers=FakeUpstream(),
        limiter=LocalRateLimiter(lambda: NOW),
        cooldown=Cooldown(base_s=5.0, max_s=300.0),
        rng=random.Random(3),
        clock=lambda: NOW,
    )
    await r.refresh(force=True)
    return r


async def refused_everywhere(r: ChannelRouter, code: int, account: int) -> UpstreamError:
    """Every channel refuses one client's create with ``code``: what the client gets."""

    async def submit(channel: Channel, provider: Provider) -> str:
        raise UpstreamRejected(code, "upstream says")

    with pytest.raises(UpstreamError) as info:
        await r.submit("T2V-01", submit, account)
    return info.value


@pytest.mark.parametrize("code", [1008, 2049, 1002, 1000, 1013, 2013, 1026])
async def test_a_refusal_cools_the_channel_for_everyone_or_only_for_its_pair(code: int) -> None:
    """1008 (the upstream account's balance) takes the channel away from every client;
    1000 (which one client's content may cause) only from the client that met it; a fault
    of the request from nobody."""
    r = await router("ch")
    await refused_everywhere(r, code, account=1)
    for_the_client = r.states(account=1)["ch"].cooling_until > NOW
    for_another = r.states(account=2)["ch"].cooling_until > NOW
    fault = CODES[code].fault
    assert for_the_client == (fault is not Fault.REQUEST)
    assert for_another == (fault in (Fault.ACCOUNT, Fault.RATE_LIMIT))
    assert r.may_poll("ch") == (fault is not Fault.RATE_LIMIT)  # only 1002 holds polls


@pytest.mark.parametrize("code", [*ROWS, NOT_LISTED])
async def test_the_client_is_shown_the_code_the_table_says(code: int) -> None:
    """An upstream account's own fault (1008, 1004, 2049...) is never shown as the
    client's; every other refusal is passed on with its code."""
    r = await router("a", "b")
    error = await refused_everywhere(r, code, account=1)
    assert error.code == row(code).shown_as
    assert (error.code != code) == (row(code).fault is Fault.ACCOUNT)


@pytest.mark.parametrize("code", [*ROWS, NOT_LISTED])
def test_an_idempotency_key_keeps_only_answers_a_retry_cannot_change(code: int) -> None:
    assert _keep(UpstreamRejected(code, "upstream says")) == (not row(code).transient)


@pytest.mark.parametrize(
    ("error", "kept"),
    [
        (errors.ReelgateError(), False),  # 1000: internal, try again later
        (errors.RateLimited(), False),
        (StorageError("disk"), False),
        (errors.InvalidParams(), True),
        (errors.InsufficientBalance(), True),
        (errors.InvalidApiKey(), True),
    ],
)
def test_the_gateways_own_errors_are_kept_unless_transient(
    error: errors.ReelgateError, kept: bool
) -> None:
    assert _keep(error) is kept


def failed_task(code: int) -> Task:
    at = datetime(2030, 1, 1, tzinfo=UTC)
    return Task(
        id=1,
        platform_id="video_x",
        account_id=1,
        api_key_id=None,
        model="T2V-01",
        mode="t2v",
        status=TaskStatus.FAILED,
        upstream_status=UpstreamStatus.FAIL,
        upstream_task_id="1",
        channel="ch",
        request={},
        duration=6,
        resolution="768P",
        created_at=at,
        updated_at=at,
        finished_at=at,
        deadline_at=at,
        error_code=code,
        error_message="refused",
        error_reason=None,
        file=None,
    )


@pytest.mark.parametrize("code", [*ROWS, NOT_LISTED])
def test_only_minimaxs_own_failure_codes_ride_next_to_fail(code: int) -> None:
    base = failed_task(code).minimax_base_resp
    assert (base["status_code"] == code) == row(code).rides_with_fail
    assert base["status_code"] in (0, code)
