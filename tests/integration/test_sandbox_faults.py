"""Fault plans: their syntax, and decisions that are reproducible and honour the rates."""

from __future__ import annotations

import pytest

from reelgate.errors import InvalidParams, ReelgateError
from reelgate.sandbox.faults import CallFaults, FaultKind, FaultPlan, Faults, parse_rates

ALL = (
    "refuse_1002=0.1,refuse_1000=0.05,refuse_1026=0.05,http_500=0.1,slow=0.1,"
    "timeout=0.05,fail_midway=0.1,forget=0.05,download_404=0.1"
)


def test_parse_the_documented_syntax() -> None:
    rates = parse_rates(ALL)
    assert rates[FaultKind.HTTP_5XX] == 0.1  # http_500 is an alias
    assert set(rates) == set(FaultKind)
    assert parse_rates(" slow = 0.5 , ,forget=0") == {FaultKind.SLOW: 0.5}
    assert parse_rates({"timeout": 1}) == {FaultKind.TIMEOUT: 1.0}
    assert parse_rates("") == {}
    plan = FaultPlan.parse("slow=0.5,forget=0.25", seed=3)
    assert FaultPlan.parse(plan.spec, seed=3) == plan


@pytest.mark.parametrize("spec", ["boom=0.1", "slow=1.5", "slow=-0.1", "slow=x", "slow"])
def test_bad_specs_are_refused(spec: str) -> None:
    with pytest.raises(InvalidParams):
        parse_rates(spec)


def _run(faults: Faults, calls: list[tuple[str, str]]) -> list[CallFaults]:
    return [faults.for_call(account, endpoint) for account, endpoint in calls]


CALLS = [("acct-a", "create"), ("acct-a", "query"), ("acct-b", "create"), ("acct-a", "retrieve")]
CALLS = CALLS * 50


def test_same_seed_and_requests_give_the_same_faults() -> None:
    plan = FaultPlan.parse(ALL, seed=42)
    first = _run(Faults(plan), CALLS)
    assert first == _run(Faults(plan), CALLS)
    assert any(c.names or c.task for c in first)
    # a new plan restarts the counts, so a run can be replayed on a live sandbox
    live = Faults(plan)
    _run(live, CALLS[:7])
    live.configure(plan)
    assert _run(live, CALLS) == first
    assert _run(Faults(FaultPlan.parse(ALL, seed=43)), CALLS) != first


def test_decisions_follow_each_account_not_the_interleaving() -> None:
    plan = FaultPlan.parse("refuse_1002=0.3,forget=0.3", seed=1)
    together = _run(Faults(plan), [("a", "create"), ("b", "create")] * 40)
    alone = _run(Faults(plan), [("a", "create")] * 40)
    assert together[::2] == alone


def test_rates_are_honoured() -> None:
    faults = Faults(FaultPlan.parse("refuse_1026=0.2,download_404=0.1", seed=5))
    calls = [faults.for_call("acct", "create") for _ in range(4000)]
    refused = sum(c.refusal is FaultKind.REFUSE_1026 for c in calls) / len(calls)
    assert 0.17 < refused < 0.23
    accepted = [c for c in calls if c.refusal is None]
    missing = sum(FaultKind.DOWNLOAD_404 in c.task for c in accepted) / len(accepted)
    assert 0.08 < missing < 0.12


def test_which_calls_each_kind_reaches() -> None:
    every = Faults(FaultPlan.parse("refuse_1000=1,fail_midway=1,slow=1"))
    create, query = every.for_call("a", "create"), every.for_call("a", "query")
    assert create.refusal is FaultKind.REFUSE_1000 and create.slow and create.task == ()
    assert query.slow and query.refusal is None and query.task == ()
    assert every.for_call("a", "download") == CallFaults()
    task = Faults(FaultPlan.parse("forget=1,fail_midway=1,download_404=1")).for_call("a", "create")
    assert task.task == (FaultKind.FORGET,)  # one fate per task
    broken = Faults(FaultPlan.parse("http_5xx=1,timeout=1,refuse_1002=1")).for_call("a", "create")
    assert broken.http is not None and not broken.hang and broken.refusal is None
    for code in (1002, 1000, 1026):
        refusal = Faults(FaultPlan.parse(f"refuse_{code}=1")).for_call("a", "create")
        with pytest.raises(ReelgateError) as caught:
            refusal.refuse()
        assert caught.value.code == code
