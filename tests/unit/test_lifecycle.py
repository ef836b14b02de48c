"""The lifecycle table (domain/lifecycle.py), cell by cell: the full from x to grid with
what each legal move does to money, and no way out of a terminal state.

The expected grid is written out here by hand, independently of how the table is built,
so that a row added, dropped or given another money effect fails a named cell.
"""

from __future__ import annotations

import itertools

import pytest

from reelgate.domain import lifecycle
from reelgate.domain.lifecycle import (
    TABLE,
    TRACKED,
    Event,
    IllegalTransition,
    Money,
    Plan,
    Step,
    Transition,
)
from reelgate.domain.tasks import TERMINAL, UNFINISHED, FailureReason, TaskStatus
from reelgate.errors import ReelgateError

S, Q, R = TaskStatus.SUBMITTING, TaskStatus.QUEUED, TaskStatus.RUNNING
OK, FAILED, CANCELLED = TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED
PRICE = 43

# (from, to) -> {(step, money)}; every cell not listed is illegal. `None`: no task yet.
LEGAL: dict[tuple[TaskStatus | None, TaskStatus], set[tuple[Step, Money]]] = {
    (None, S): {(Step.CREATE, Money.RESERVE)},
    (S, Q): {(Step.ACCEPT, Money.NONE)},
    (S, FAILED): {
        (Step.REFUSE, Money.RELEASE),
        (Step.FAIL, Money.REFUND),
        (Step.INTERRUPT, Money.REFUND),
    },
    (S, CANCELLED): {(Step.CANCEL, Money.REFUND)},
    (Q, Q): {(Step.PROGRESS, Money.NONE)},
    (Q, R): {(Step.PROGRESS, Money.NONE)},
    (R, Q): {(Step.PROGRESS, Money.NONE)},
    (R, R): {(Step.PROGRESS, Money.NONE)},
    (Q, OK): {(Step.SUCCEED, Money.CAPTURE)},
    (R, OK): {(Step.SUCCEED, Money.CAPTURE)},
    (Q, FAILED): {(Step.FAIL, Money.REFUND)},
    (R, FAILED): {(Step.FAIL, Money.REFUND)},
    (Q, CANCELLED): {(Step.CANCEL, Money.REFUND)},
    (R, CANCELLED): {(Step.CANCEL, Money.REFUND)},
}
GRID = list(itertools.product([None, *TaskStatus], TaskStatus))


@pytest.mark.parametrize(("source", "target"), GRID, ids=lambda s: getattr(s, "value", "new"))
def test_every_cell_of_the_grid(source: TaskStatus | None, target: TaskStatus) -> None:
    found = {(t.step, t.money) for t in lifecycle.find(source, target)}
    assert found == LEGAL.get((source, target), set())


def test_the_table_holds_only_the_legal_cells() -> None:
    assert len(GRID) == 7 * 6
    rows = {(t.source, t.target, t.step, t.money) for t in TABLE}
    expected = {(s, t, step, money) for (s, t), moves in LEGAL.items() for step, money in moves}
    assert rows == expected
    assert len(TABLE) == len(expected)  # and no row twice


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_a_terminal_state_has_no_way_out(status: TaskStatus) -> None:
    assert lifecycle.exits(status) == frozenset()
    assert [t for t in TABLE if t.source is status] == []
    for row in TABLE:  # no compare-and-set accepts it
        assert status not in lifecycle.sources(row.step, row.target)


def test_every_unfinished_state_can_end_and_be_refunded() -> None:
    for status in UNFINISHED:
        assert TERMINAL & lifecycle.exits(status)
        assert status in lifecycle.sources(Step.CANCEL, CANCELLED)
        assert status in lifecycle.sources(Step.FAIL, FAILED)


def test_only_the_create_enters_submitting() -> None:
    assert {t.step for t in TABLE if t.target is S} == {Step.CREATE}
    created = lifecycle.creation()
    assert (created.target, created.money, created.sources) == (S, Money.RESERVE, frozenset())


def test_a_success_needs_a_task_the_upstream_has() -> None:
    assert lifecycle.sources(Step.SUCCEED, OK) == {Q, R}
    assert S not in lifecycle.sources(Step.SUCCEED, OK)


def test_tracked_are_the_statuses_polled() -> None:
    assert {Q, R} == lifecycle.TRACKED
    assert lifecycle.sources(Step.PROGRESS, Q) == lifecycle.sources(Step.PROGRESS, R) == TRACKED


@pytest.mark.parametrize(
    ("money", "amount"),
    [
        (Money.NONE, 0),
        (Money.RESERVE, -PRICE),
        (Money.CAPTURE, 0),
        (Money.RELEASE, PRICE),
        (Money.REFUND, PRICE),
    ],
)
def test_what_each_money_effect_adds_to_the_balance(money: Money, amount: int) -> None:
    assert money.amount(PRICE) == amount
    assert money.amount(0) == 0  # a free task moves nothing


@pytest.mark.parametrize("row", [t for t in TABLE if t.target in TERMINAL], ids=str)
def test_a_finished_task_nets_its_price_only_if_it_succeeded(row: Transition) -> None:
    net = lifecycle.creation().money.amount(PRICE) + row.money.amount(PRICE)
    assert net == (-PRICE if row.target is OK else 0)


def test_the_money_of_each_move() -> None:
    assert lifecycle.money(Step.ACCEPT, Q) is Money.NONE
    assert lifecycle.money(Step.REFUSE, FAILED) is Money.RELEASE
    assert lifecycle.money(Step.PROGRESS, R) is Money.NONE
    assert lifecycle.money(Step.SUCCEED, OK) is Money.CAPTURE
    assert lifecycle.money(Step.FAIL, FAILED) is Money.REFUND
    assert lifecycle.money(Step.CANCEL, CANCELLED) is Money.REFUND
    assert lifecycle.money(Step.INTERRUPT, FAILED) is Money.REFUND
    # the ledger's kinds are the money effects' values
    assert {m.value for m in Money} - {"none"} == {
        "reserve",
        "capture",
        "settle",
        "release",
        "refund",
    }


def test_events_and_callbacks() -> None:
    for row in TABLE:
        if row.step is Step.CREATE:
            assert (row.event, row.callback) == (Event.NONE, False)
        elif row.step is Step.PROGRESS:
            assert (row.event, row.callback) == (Event.ON_CHANGE, True)
        else:
            assert (row.event, row.callback) == (Event.ALWAYS, True)


@pytest.mark.parametrize(("step", "target"), list(itertools.product(Step, TaskStatus)))
def test_plan_is_refused_for_a_move_the_table_lacks(step: Step, target: TaskStatus) -> None:
    legal = {(t.step, t.target) for t in TABLE}
    if (step, target) in legal:
        plan = lifecycle.plan(step, target)
        assert plan.sources == {t.source for t in TABLE if (t.step, t.target) == (step, target)} - {
            None
        }
    else:
        with pytest.raises(IllegalTransition) as caught:
            lifecycle.plan(step, target)
        assert isinstance(caught.value, ReelgateError)  # the one error tree: a 500, not a crash


def test_a_poll_cannot_finish_a_task() -> None:
    """A success or failure reported as mere progress would skip its money."""
    for target in (OK, FAILED, CANCELLED):
        with pytest.raises(IllegalTransition):
            lifecycle.plan(Step.PROGRESS, target)


@pytest.mark.parametrize(
    ("status", "reason", "step"),
    [
        (CANCELLED, FailureReason.CANCELLED, Step.CANCEL),
        (CANCELLED, "anything", Step.CANCEL),
        (FAILED, FailureReason.INTERRUPTED, Step.INTERRUPT),
        (FAILED, "interrupted", Step.INTERRUPT),
        (FAILED, FailureReason.DEADLINE_EXCEEDED, Step.FAIL),
        (FAILED, FailureReason.LOST, Step.FAIL),
        (FAILED, FailureReason.UPSTREAM_FAILED, Step.FAIL),
        (FAILED, "lost", Step.FAIL),
    ],
)
def test_ending(status: TaskStatus, reason: str, step: Step) -> None:
    assert lifecycle.ending(status, reason) is step


def test_an_interrupted_submit_ends_only_from_submitting() -> None:
    assert lifecycle.sources(lifecycle.ending(FAILED, FailureReason.INTERRUPTED), FAILED) == {S}


def test_sources_in_a_stable_order() -> None:
    assert lifecycle.plan(Step.CANCEL, CANCELLED).ordered_sources() == [
        "submitting",
        "queued",
        "running",
    ]


def test_a_table_whose_sources_disagree_is_refused() -> None:
    """The compare-and-set does not say which source it moved from, so one (step,
    target) must write the same from each of them."""
    rows = [
        Transition(Step.FAIL, Q, FAILED, Money.REFUND, Event.ALWAYS, True),
        Transition(Step.FAIL, R, FAILED, Money.NONE, Event.ALWAYS, True),
    ]
    with pytest.raises(ValueError, match="different things"):
        lifecycle._plans(rows)
    same = lifecycle._plans(rows[:1])
    assert same[Step.FAIL, FAILED] == Plan(
        Step.FAIL, FAILED, frozenset({Q}), Money.REFUND, Event.ALWAYS, True
    )
