"""A balance never grows past what its BIGINT column holds (issue 13).

Each top-up is bounded at the edge (MAX_AMOUNT), but enough of them would overflow the
column and fail in the store as a 500; the store refuses the top-up that would cross
MAX_BALANCE instead, and leaves the balance and the ledger as they were.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from reelgate.domain.bounds import INT64_MAX, MAX_BALANCE
from reelgate.errors import InvalidParams
from reelgate.store import database
from reelgate.store.accounts import AccountStore
from reelgate.store.reports import Reports
from tests.support import fresh_database


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[AccountStore, Reports]]:
    with fresh_database(tmp_path) as url:
        engine = database.create_engine(url)
        try:
            await database.upgrade(engine)
            yield AccountStore(engine), Reports(engine)
        finally:
            await engine.dispose()


async def test_a_top_up_past_the_balance_bound_is_refused(
    stores: tuple[AccountStore, Reports],
) -> None:
    accounts, reports = stores
    account = await accounts.create_account("rich", balance=MAX_BALANCE - 5)
    assert await accounts.top_up(account.id, 5) == MAX_BALANCE  # up to the bound exactly
    for amount in (1, INT64_MAX - MAX_BALANCE + 1):  # one past it, and past 64 bits
        with pytest.raises(InvalidParams, match="would exceed"):
            await accounts.top_up(account.id, amount)
    after = await accounts.get_account(account.id)
    assert after is not None and after.balance == MAX_BALANCE
    assert [e.amount for e in await reports.ledger(account.id, None, 10)] == [5]
