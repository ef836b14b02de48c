"""``NEW_ROW_COLUMNS`` names exactly the columns ``new_row`` fills: PostgreSQL's
one-statement create (``store/create_pg.py``) inserts those and no others."""

from __future__ import annotations

from datetime import UTC, datetime

from reelgate.domain.tasks import TaskStatus
from reelgate.store.task_rows import NEW_ROW_COLUMNS, new_row
from tests.support import new_task


def test_the_columns_of_a_new_row() -> None:
    row = new_row(new_task(1), TaskStatus.SUBMITTING, datetime.now(UTC))
    assert tuple(row) == NEW_ROW_COLUMNS
