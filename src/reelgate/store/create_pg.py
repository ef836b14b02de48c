"""The create's write as one statement on PostgreSQL: reserve, insert and ledger entry.

The create's transaction is three statements (reserve the price on the account row,
insert the task, write the ledger entry), each a round trip to PostgreSQL, plus
``BEGIN`` and ``COMMIT``: five. Written as one statement with data-modifying CTEs it
is one round trip, atomic on its own (issue 19):

    WITH reserved AS (UPDATE accounts ... RETURNING balance),
         task AS (INSERT INTO tasks ... SELECT ... FROM reserved RETURNING *),
         entry AS (INSERT INTO ledger ... SELECT ... FROM task, reserved)
    SELECT * FROM task

An account that is not active or cannot cover the price updates no row, so nothing is
inserted and the statement answers no row: the caller then says why. Only for a key
and an account without an in-flight limit: counting their tasks in flight needs the
account row's lock held between the reserve and the insert (``tasks._check_in_flight``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, true, update

from reelgate.domain import lifecycle
from reelgate.store.tables import accounts, ledger, tasks
from reelgate.store.task_rows import NEW_ROW_COLUMNS, NewTask, new_row

_LEDGER_COLUMNS = ("account_id", "task_id", "kind", "amount", "balance_after", "created_at")


# The reserve of a create's price: an active account that can cover it, or no row. Also
# the first statement of the create's transaction where it cannot be one statement
# (``store/tasks.py``).
RESERVE = (
    update(accounts)
    .where(
        accounts.c.id == bindparam("r_account"),
        accounts.c.status == "active",
        accounts.c.balance >= bindparam("r_price"),
    )
    .values(balance=accounts.c.balance - bindparam("r_price"))
    .returning(accounts.c.balance)
)


def _statement(*, charged: bool) -> Any:
    reserved = RESERVE.cte("reserved")
    row = select(
        # prefixed: a parameter named after a column (status, created_at) would also set
        # that column in the UPDATE of the statement
        *(bindparam(f"n_{name}", type_=tasks.c[name].type).label(name) for name in NEW_ROW_COLUMNS)
    ).select_from(reserved)
    task = insert(tasks).from_select(NEW_ROW_COLUMNS, row).returning(*tasks.c).cte("task")
    answer = select(task)
    if not charged:
        return answer
    entry = select(
        task.c.account_id,
        task.c.id,
        bindparam("l_kind", type_=ledger.c.kind.type),
        bindparam("l_amount", type_=ledger.c.amount.type),
        reserved.c.balance,
        task.c.created_at,
    ).select_from(task.join(reserved, true()))  # one row each: a join, not a warning
    return answer.add_cte(insert(ledger).from_select(_LEDGER_COLUMNS, entry).cte("entry"))


_CHARGED = _statement(charged=True)
_FREE = _statement(charged=False)


def unlimited(new: NewTask) -> bool:
    """No in-flight limit to count under the account's lock (``tasks._check_in_flight``)."""
    key_limited = new.max_in_flight is not None and new.api_key_id is not None
    return not key_limited and new.account_max_in_flight is None


def create_at_once(new: NewTask, now: datetime) -> tuple[Any, dict[str, Any]]:
    """The statement and its parameters for ``new``, created ``now``."""
    created = lifecycle.creation()
    money = created.money
    row = new_row(new, created.target, now)
    params = {f"n_{name}": row[name] for name in NEW_ROW_COLUMNS} | {
        "r_account": new.account_id,
        "r_price": new.price,
        "l_kind": money.value,
        "l_amount": money.amount(new.price),
    }
    charged = bool(new.price) and money is not lifecycle.Money.NONE
    return (_CHARGED if charged else _FREE), params
