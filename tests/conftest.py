from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import API_KEY, MiniMax, Server, fresh_database, on_postgres


def pytest_report_header() -> str:
    return "store: PostgreSQL" if on_postgres() else "store: SQLite"


# Modules whose outcome cannot depend on the store: they run in the SQLite pass only.
STORE_INDEPENDENT = (
    "tests/unit/",
    "tests/integration/test_render",  # the renderer (v1 and v2) and its render pool
    "tests/integration/test_previews.py",
    "tests/integration/test_minimax_v2_provider.py",
    "tests/integration/test_sandbox_",
    "tests/e2e/test_sandbox_",
    "tests/e2e/test_faults.py",
    "tests/e2e/test_cli.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        path = Path(str(item.path)).relative_to(root).as_posix()
        if path.startswith(STORE_INDEPENDENT):
            item.add_marker(pytest.mark.once)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One gateway process per test module, on a store of its own."""
    data_dir = tmp_path_factory.mktemp("gateway")
    with fresh_database(data_dir) as url:
        srv = Server(data_dir=data_dir, database_url=url).start()
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture
def minimax(server: Server) -> Iterator[MiniMax]:
    client = MiniMax(server.url + "/minimaxi", API_KEY)
    yield client
    client.http.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
