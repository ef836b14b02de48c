"""A task's lifecycle as one table: from, to, what happens to money, what is recorded.

The store carries out a transition with one compare-and-set (``UPDATE ... WHERE status
IN (sources) RETURNING``) and writes what the table says belongs to it in the same
transaction; which moves are legal, and what each costs, is decided here and nowhere
else. Pure: no database, no web framework.

A row is keyed by its *step* (why the task moves) as well as by its statuses, because
one pair can mean two things: ``submitting -> failed`` releases the reservation when
the upstream refused the submit, and refunds it when the submit was interrupted.

A success keeps what the task is charged and gives back the rest of its reservation:
a task billed by the second (MiniMax v2) reserves for what it asked and settles at what
the upstream billed, so its row moves money twice, ``capture`` and then ``settle`` (the
row's ``remainder``), each at most once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from reelgate.domain.tasks import FailureReason, TaskStatus
from reelgate.errors import ReelgateError


class Step(StrEnum):
    """What happened to a task: the cause of a transition."""

    CREATE = "create"  # stored, before anything is sent upstream
    ACCEPT = "accept"  # the upstream took the submit
    REFUSE = "refuse"  # the upstream refused the submit: the task never started
    PROGRESS = "progress"  # a poll or a push reports a status short of the end
    SUCCEED = "succeed"  # the upstream finished it and the file is known
    FAIL = "fail"  # the upstream failed it, lost it, or it passed its deadline
    CANCEL = "cancel"  # the client gave up on it
    INTERRUPT = "interrupt"  # the process died mid-submit; the sweep settles it


class Money(StrEnum):
    """The money movement of a transition; its value is the ledger entry's ``kind``."""

    NONE = "none"
    RESERVE = "reserve"  # the price is taken from the balance while the task runs
    CAPTURE = "capture"  # the reservation becomes the charge: moves nothing, records it
    SETTLE = "settle"  # what the charge left of the reservation is given back
    RELEASE = "release"  # the reservation is given back: the task never started
    REFUND = "refund"  # the reservation is given back: the task failed or was cancelled

    def amount(self, price: int, charged: int | None = None) -> int:
        """The signed amount added to the balance for a task that reserved ``price``
        and (a settle) was charged ``charged`` of it: never more than it reserved."""
        if self is Money.RESERVE:
            return -price
        if self in (Money.RELEASE, Money.REFUND):
            return price
        if self is Money.SETTLE and charged is not None:
            return price - min(max(charged, 0), price)
        return 0


class Event(StrEnum):
    """Whether a transition records a task event (numbered, streamed to listeners)."""

    NONE = "none"
    ALWAYS = "always"
    ON_CHANGE = "on_change"  # only when the upstream's own status changed


@dataclass(frozen=True, slots=True)
class Transition:
    """One row: ``source`` is None for the create, when there is no task yet.
    ``callback``: a task with a ``callback_url`` gets a delivery of the event.
    ``remainder``: what happens, after ``money``, to the part of the reservation the
    task was not charged (a success: ``settle`` gives it back)."""

    step: Step
    source: TaskStatus | None
    target: TaskStatus
    money: Money
    event: Event
    callback: bool
    remainder: Money = Money.NONE


@dataclass(frozen=True, slots=True)
class Plan:
    """What the store needs to carry out ``step`` to ``target``: the statuses its
    compare-and-set accepts and what it writes with the change."""

    step: Step
    target: TaskStatus
    sources: frozenset[TaskStatus]
    money: Money
    event: Event
    callback: bool
    remainder: Money = Money.NONE

    def ordered_sources(self) -> list[str]:
        """The sources as the SQL condition lists them, in a stable order."""
        return [s.value for s in TaskStatus if s in self.sources]


class IllegalTransition(ReelgateError):
    """A task was asked to move in a way its lifecycle does not allow (a bug)."""


_S, _Q, _R = TaskStatus.SUBMITTING, TaskStatus.QUEUED, TaskStatus.RUNNING
_OK, _FAILED, _CANCELLED = TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED


def _rows(
    step: Step,
    sources: Iterable[TaskStatus | None],
    targets: Iterable[TaskStatus],
    money: Money,
    event: Event = Event.ALWAYS,
    *,
    remainder: Money = Money.NONE,
) -> list[Transition]:
    # every event reaches the client's callback_url; only the create records none
    callback = event is not Event.NONE
    return [
        Transition(step, s, t, money, event, callback, remainder) for s in sources for t in targets
    ]


TABLE: tuple[Transition, ...] = (
    *_rows(Step.CREATE, [None], [_S], Money.RESERVE, Event.NONE),
    *_rows(Step.ACCEPT, [_S], [_Q], Money.NONE),
    *_rows(Step.REFUSE, [_S], [_FAILED], Money.RELEASE),
    # Queueing and Processing may come in any order (a push may overtake a poll)
    *_rows(Step.PROGRESS, [_Q, _R], [_Q, _R], Money.NONE, Event.ON_CHANGE),
    # only a task the upstream has can succeed: never one still `submitting`; it is
    # charged what the upstream billed (at most the reservation) and given back the rest
    *_rows(Step.SUCCEED, [_Q, _R], [_OK], Money.CAPTURE, remainder=Money.SETTLE),
    *_rows(Step.FAIL, [_S, _Q, _R], [_FAILED], Money.REFUND),
    *_rows(Step.CANCEL, [_S, _Q, _R], [_CANCELLED], Money.REFUND),
    *_rows(Step.INTERRUPT, [_S], [_FAILED], Money.REFUND),
)


def _plans(table: Iterable[Transition]) -> dict[tuple[Step, TaskStatus], Plan]:
    """Group the rows by (step, target). The compare-and-set returns the row as it is
    after the change, not where it came from, so everything a transition writes must be
    the same from each of its sources; a table that breaks this is refused at import."""
    grouped: dict[tuple[Step, TaskStatus], list[Transition]] = {}
    for row in table:
        grouped.setdefault((row.step, row.target), []).append(row)
    plans: dict[tuple[Step, TaskStatus], Plan] = {}
    for (step, target), rows in grouped.items():
        effects = {(r.money, r.event, r.callback, r.remainder) for r in rows}
        if len(effects) != 1:
            raise ValueError(f"{step} to {target} writes different things from its sources")
        ((money, event, callback, remainder),) = effects
        sources = frozenset(r.source for r in rows if r.source is not None)
        plans[step, target] = Plan(step, target, sources, money, event, callback, remainder)
    return plans


_PLANS = _plans(TABLE)

# Tasks the upstream has and that have not finished: the tracker leases and polls these.
TRACKED = _PLANS[Step.PROGRESS, _Q].sources


def creation() -> Plan:
    """The create: the status a new task is stored with and the money it reserves."""
    (found,) = (p for p in _PLANS.values() if p.step is Step.CREATE)
    return found


def plan(step: Step, target: TaskStatus) -> Plan:
    """How ``step`` moves a task to ``target``; IllegalTransition if it cannot."""
    found = _PLANS.get((step, target))
    if found is None:
        raise IllegalTransition(f"a task cannot move to {target.value} by {step.value}")
    return found


def sources(step: Step, target: TaskStatus) -> frozenset[TaskStatus]:
    """Which statuses may move to ``target`` for this reason."""
    return plan(step, target).sources


def money(step: Step, target: TaskStatus) -> Money:
    """What money moves when ``step`` takes a task to ``target``."""
    return plan(step, target).money


def ending(status: TaskStatus, reason: str) -> Step:
    """The step that ends a task without a video: a cancel, an interrupted submit (only
    ever settled from ``submitting``), or any other failure."""
    if status is _CANCELLED:
        return Step.CANCEL
    if reason == FailureReason.INTERRUPTED:
        return Step.INTERRUPT
    return Step.FAIL


def find(source: TaskStatus | None, target: TaskStatus) -> list[Transition]:
    """The rows that move a task from ``source`` to ``target`` (empty: none may)."""
    return [t for t in TABLE if t.source is source and t.target is target]


def exits(source: TaskStatus) -> frozenset[TaskStatus]:
    """Every status a task in ``source`` may move to; none from a terminal one."""
    return frozenset(t.target for t in TABLE if t.source is source)
