"""The compare-and-set of a lifecycle move, and on PostgreSQL, for a move that writes
no money, the whole move as one statement (issue 19).

``compare_and_set`` builds the ``UPDATE ... WHERE status IN (sources) RETURNING`` that
``store/transitions.py`` runs for every change of a task's status.

A move is a transaction: ``BEGIN``, the compare-and-set ``UPDATE``, its event, its
callback, its ledger entries, ``COMMIT``, each a round trip to PostgreSQL. The move of a
new task to ``queued`` (the upstream took it) is on every create's path: four round
trips. A move that moves no money and queues no callback writes at most the task and its
event, and that is one statement with a data-modifying CTE, atomic on its own:

    WITH moved AS (UPDATE tasks SET ... WHERE id = ... AND status IN (...) RETURNING *),
         event AS (INSERT INTO task_events ... SELECT ... FROM moved)
    SELECT * FROM moved

The ``UPDATE`` is the same compare-and-set as the transaction's (``_build``):
a stale write updates no row, so nothing is written and no row comes back. The callback
body is built in Python from the row after the move (``webhooks.callback_body``), so a
move with a callback cannot be one statement: where the plan queues one, the ``UPDATE``
here also asks ``callback_url IS NULL``, and a task that has a URL updates nothing here
and goes the transaction's way (``transitions.TaskTransitions._transition``).
"""

from __future__ import annotations

from enum import Enum
from functools import lru_cache
from typing import Any

from sqlalchemy import ClauseElement, bindparam, insert, select, update

from reelgate.domain.lifecycle import Money, Plan
from reelgate.store.tables import task_events, tasks

SEQ_NEXT = tasks.c.event_seq + 1  # one object, so that statements that use it are reused
_EVENT_COLUMNS = ("task_id", "seq", "status", "upstream_status", "created_at")


class Fold(Enum):
    """How a move is written on PostgreSQL."""

    NONE = "transaction"  # money or a settlement: statements in a transaction
    UPDATE = "update"  # no event: the compare-and-set alone, in autocommit
    WITH_EVENT = "with-event"  # the compare-and-set and its event as one statement


def fold(plan: Plan, *, event: bool, settling: bool) -> Fold:
    """Whether ``plan``'s move can be one statement, and which."""
    if settling or plan.money is not Money.NONE or plan.remainder is not Money.NONE:
        return Fold.NONE  # the ledger's entries need the row's price: Python between
    return Fold.WITH_EVENT if event else Fold.UPDATE


def folded(stmt: Any, how: Fold, *, callback: bool) -> Any:
    """The one statement for ``stmt`` (a compare-and-set ``UPDATE ... RETURNING``
    every column of the task). ``callback``: the plan queues a callback, so only a task
    without a ``callback_url`` moves here."""
    if how is Fold.UPDATE:
        return stmt
    if callback:
        stmt = stmt.where(tasks.c.callback_url.is_(None))
    moved = stmt.cte("moved")
    # the event's time is the move's (``updated_at``), as the transaction writes it
    row = select(
        moved.c.id, moved.c.event_seq, moved.c.status, moved.c.upstream_status, moved.c.updated_at
    )
    event = insert(task_events).from_select(_EVENT_COLUMNS, row).cte("event")
    return select(moved).add_cte(event)


def compare_and_set(
    task_id: int,
    statuses: list[str],
    owner: str | None,
    values: dict[str, Any],
    how: Fold = Fold.NONE,
    *,
    callback: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """The statement and its parameters (``how``: the move as one statement, on
    PostgreSQL). A statement of a shape seen before is reused: building one
    (``RETURNING`` every column) and hashing it for the compiled cache cost about as
    much as running it (issue 19)."""
    plain = {k: v for k, v in values.items() if not isinstance(v, ClauseElement)}
    exprs = tuple((k, v) for k, v in values.items() if k not in plain)
    params = {f"v_{k}": v for k, v in plain.items()}
    params["c_id"], params["c_owner"] = task_id, owner
    if all(v is SEQ_NEXT for _, v in exprs):
        stmt = _shaped(tuple(statuses), owner is not None, tuple(plain), exprs, how, callback)
        return stmt, params
    built = _build(statuses, owner is not None, plain, dict(exprs))
    return folded(built, how, callback=callback) if how is not Fold.NONE else built, params


@lru_cache(maxsize=256)
def _shaped(
    statuses: tuple[str, ...],
    owned: bool,
    keys: tuple[str, ...],
    exprs: tuple[Any, ...],
    how: Fold,
    callback: bool,
) -> Any:
    built = _build(list(statuses), owned, dict.fromkeys(keys), dict(exprs))
    return folded(built, how, callback=callback) if how is not Fold.NONE else built


def _build(statuses: list[str], owned: bool, plain: dict[str, Any], exprs: dict[str, Any]) -> Any:
    # `=` for one status: an IN list is re-rendered at every execution
    status_ok = (
        tasks.c.status == statuses[0] if len(statuses) == 1 else tasks.c.status.in_(statuses)
    )
    where = [tasks.c.id == bindparam("c_id"), status_ok]
    if owned:
        where.append(tasks.c.lease_owner == bindparam("c_owner"))
    values = {k: bindparam(f"v_{k}", type_=tasks.c[k].type) for k in plain} | exprs
    return update(tasks).where(*where).values(**values).returning(*tasks.c)
