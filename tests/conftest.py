from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import API_KEY, MiniMax, Server, gateway_process, on_postgres


def pytest_report_header() -> str:
    return "store: PostgreSQL" if on_postgres() else "store: SQLite"


# Modules whose outcome cannot depend on the store: they run in one pass only (marked
# ``once``), the SQLite one unless PG_PASS moves them. Besides the renderer, the sandbox
# and the command line: what real HTTP, real processes or a real browser show about the
# surfaces (routing, wire shapes, signed links, the docs, the CLI over HTTP, the console
# in Chromium), whose store-dependent parts the in-process tier tests on both stores.
STORE_INDEPENDENT = (
    "tests/unit/",
    "tests/integration/test_render",  # the renderer (v1 and v2) and its render pool
    "tests/integration/test_previews.py",
    "tests/integration/test_minimax_v2_provider.py",
    "tests/integration/test_sandbox_",
    "tests/e2e/test_sandbox_",
    "tests/e2e/test_faults.py",
    "tests/e2e/test_cli.py",
    "tests/e2e/test_docs.py",
    "tests/e2e/test_signatures.py",
    "tests/e2e/test_ssrf.py",
    "tests/e2e/test_minimax_api.py",
    "tests/e2e/test_minimax_edges.py",
    "tests/e2e/test_minimax_fidelity.py",
    "tests/e2e/test_openai_sdk.py",
    "tests/e2e/test_admin.py",
    "tests/e2e/test_account_limits.py",
    # SSE over real HTTP while a task moves on; the events' order and resume from a point
    # are the store's, tested on both in tests/inprocess/test_task_streams.py
    "tests/e2e/test_tasks_api.py",
    "tests/browser/test_console_browser.py",
    # the wire and the event loop, whatever the store: request sizes and slow clients on
    # raw sockets, image bombs decoded off the loop
    "tests/e2e/test_http_limits.py",
    "tests/e2e/test_image_bombs_live.py",
    # the bucket (moto) end to end; the copy's rows are the local copies' statements,
    # which tests/integration/test_storage.py and tests/e2e/test_storage_copy.py run on
    # both stores
    "tests/e2e/test_storage_s3.py",
)

# Of the ``once`` tests, those that scripts/test, running the two passes side by side,
# gives the PostgreSQL pass instead (``-m pg_pass`` there, ``-m "not pg_pass"`` in the
# SQLite pass), so that the two passes take about as long: the SQLite pass has the unit
# tier and most store-independent modules. Run by hand, pytest runs them like any other.
# The cluster of tests/e2e/test_scale.py needs PostgreSQL and Redis whatever the pass.
PG_PASS = (
    "tests/e2e/test_scale.py",
    "tests/e2e/test_faults.py",
    "tests/e2e/test_sandbox_",
    "tests/e2e/test_openai_sdk.py",
    "tests/integration/test_render_v2.py",
    "tests/e2e/test_storage_s3.py",
    "tests/e2e/test_cli.py",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "pg_pass: a once test that scripts/test runs in the PostgreSQL pass"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A test of one database's own behaviour (its round trips, its query plans) is left
    # out of the other pass rather than skipped there: a skip would read as a check not made.
    other = "sqlite_only" if on_postgres() else "postgres_only"
    left_out = [item for item in items if item.get_closest_marker(other) is not None]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item.get_closest_marker(other) is None]
    root = Path(str(config.rootpath))
    for item in items:
        path = Path(str(item.path)).relative_to(root).as_posix()
        if path.startswith(STORE_INDEPENDENT):
            item.add_marker(pytest.mark.once)
        if path.startswith(PG_PASS) and item.get_closest_marker("once") is not None:
            item.add_marker(pytest.mark.pg_pass)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One gateway process (default settings) for every module that asks for it, on a store
    of its own: starting one costs seconds, and these modules only add to what it holds
    (tasks, accounts and keys of their own). A module that changes what the others rely
    on (the admin token, the default account's limits, the fuzzer's random writes), or
    that needs an idle one (a latency bound), starts its own instead: a module-scoped
    ``server`` fixture of its own, with ``tests.support.gateway_process``."""
    with gateway_process(tmp_path_factory.mktemp("gateway")) as srv:
        yield srv


@pytest.fixture
def minimax(server: Server) -> Iterator[MiniMax]:
    client = MiniMax(server.url + "/minimaxi", API_KEY)
    yield client
    client.http.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
