"""Fixtures of the console's tests: the gateway in this process (for the security and
form tests over httpx) and, for the browser tests, Debian's Chromium driven by Playwright
(``scripts/ensure-chromium`` installs it; without it they skip, or fail under CI=true)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.inprocess.harness import InProcess, in_process
from tests.support import fresh_database


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcess]:
    data_dir = tmp_path_factory.mktemp("console")
    with fresh_database(data_dir) as url:
        async with in_process(data_dir, url) as gw:
            yield gw
