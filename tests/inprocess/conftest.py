"""Fixtures of the in-process tier: one gateway per test module, on a store of its own of
the pass's kind (SQLite, or PostgreSQL with REELGATE_TEST_DATABASE) born at the current
schema (``tests.support.migrated_database``), with a fake upstream.

Test modules of this tier share their module's event loop with the gateway:
``pytestmark = pytest.mark.asyncio(loop_scope="module")``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.inprocess.harness import InProcess, in_process
from tests.support import migrated_database


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcess]:
    data_dir = tmp_path_factory.mktemp("inprocess")
    with migrated_database(data_dir) as url:
        async with in_process(data_dir, url) as gw:
            yield gw
