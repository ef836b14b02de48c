"""The default install exposes nothing (issue 13, item 5): the mounted sandbox takes a
secret key made at first start, its control endpoints take the admin token, and /metrics
is not public. (That it is not mounted in front of a real MiniMax key unless asked for
is tested in process: ``tests/inprocess/test_exposure.py``.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from reelgate.services.bootstrap import SANDBOX_KEY_META
from reelgate.settings import STANDALONE_SANDBOX_KEY
from reelgate.store import tables
from tests.support import ADMIN_TOKEN, API_KEY, MiniMax, Server, fresh_database

METRICS_TOKEN = "rg-metrics-scrape-only-token"
PUBLIC_KEY = STANDALONE_SANDBOX_KEY  # "sandbox-key": in the docs, so known to everyone
CONTROL = [
    ("GET", "/_control/faults", None),
    ("PUT", "/_control/faults", {"faults": "http_5xx=1"}),
    ("GET", "/_control/requests?since=0", None),
    ("GET", "/_control/tasks?since=0", None),
]
MINIMAX_CALLS = [
    ("POST", "/v1/video_generation", {"model": "T2V-01", "prompt": "x"}),
    ("GET", "/v1/query/video_generation?task_id=1", None),
    ("GET", "/v1/files/retrieve?file_id=1", None),
    ("GET", "/v1/files/retrieve_content?file_id=1", None),
]


def call(base: str, method: str, path: str, body: object, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(
        method, base + path, json=body, headers=headers, trust_env=False, timeout=30
    )


def stored_sandbox_key(database_url: str) -> str | None:
    async def run() -> str | None:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                value = await conn.scalar(
                    select(tables.meta.c.value).where(tables.meta.c.key == SANDBOX_KEY_META)
                )
                return str(value) if value is not None else None
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A gateway as `make run` starts it: no sandbox keys set (only our fixed credentials)."""
    data_dir = tmp_path_factory.mktemp("fresh")
    with fresh_database(data_dir) as url:
        srv = Server(
            data_dir,
            url,
            env={"REELGATE_METRICS_TOKEN": METRICS_TOKEN},
            unset=("REELGATE_SANDBOX_API_KEYS",),
        ).start()
        try:
            yield srv
        finally:
            srv.stop()


@pytest.mark.parametrize(("method", "path", "body"), MINIMAX_CALLS)
def test_the_mounted_sandbox_refuses_the_public_key(
    fresh: Server, method: str, path: str, body: object
) -> None:
    resp = call(fresh.url + "/sandbox", method, path, body, PUBLIC_KEY)
    code = 2049 if method == "POST" else 1004  # an unknown key: 2049 on create only
    assert resp.status_code == 200 and resp.json()["base_resp"]["status_code"] == code, resp.text


@pytest.mark.parametrize(("method", "path", "body"), CONTROL)
def test_control_endpoints_need_the_admin_token(
    fresh: Server, method: str, path: str, body: object
) -> None:
    base = fresh.url + "/sandbox"
    generated = stored_sandbox_key(fresh.database_url)
    assert generated is not None
    for token in (None, PUBLIC_KEY, generated, API_KEY, METRICS_TOKEN):
        refused = call(base, method, path, body, token)
        assert refused.json()["base_resp"]["status_code"] == 1004, (token, refused.text)
    assert call(base, "GET", "/_control/faults", None, ADMIN_TOKEN).json()["faults"] == {}
    answer = call(base, method, path, body, ADMIN_TOKEN)
    assert answer.status_code == 200
    assert "base_resp" not in answer.json() or answer.json()["base_resp"]["status_code"] == 0
    if method == "PUT":  # it did change the plan: put it back
        off = call(base, "PUT", "/_control/faults", {"faults": ""}, ADMIN_TOKEN)
        assert off.json()["faults"] == {}


def test_the_generated_key_is_a_secret_that_survives_a_restart(fresh: Server) -> None:
    key = stored_sandbox_key(fresh.database_url)
    assert key is not None and key != PUBLIC_KEY and len(key) >= 40
    with MiniMax(fresh.url + "/minimaxi") as gateway:  # the implicit channel uses the key
        created = gateway.create({"model": "T2V-01", "prompt": "kept across a restart"})
        assert created["base_resp"]["status_code"] == 0, created
        done = gateway.wait(created["platform_id"])
    with MiniMax(fresh.url + "/sandbox", key) as upstream:
        assert upstream.query(created["task_id"])["status"] == "Success"

    fresh.stop()
    fresh.start()
    assert stored_sandbox_key(fresh.database_url) == key
    with MiniMax(fresh.url + "/sandbox", key) as upstream:  # the same account upstream
        assert upstream.query(created["task_id"])["status"] == "Success"
    with MiniMax(fresh.url + "/minimaxi") as gateway:
        assert gateway.retrieve(done["file_id"])["file"]["download_url"]
        again = gateway.create({"model": "T2V-01", "prompt": "after the restart"})
        assert gateway.wait(again["platform_id"])["status"] == "Success"


def test_metrics_need_the_admin_token_or_the_metrics_token(fresh: Server) -> None:
    for token in (None, PUBLIC_KEY, API_KEY, "rg-admin-wrong"):
        refused = call(fresh.url, "GET", "/metrics", None, token)
        assert refused.status_code == 401, (token, refused.text)
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "reelgate_" not in refused.text
    for token in (ADMIN_TOKEN, METRICS_TOKEN):
        allowed = call(fresh.url, "GET", "/metrics", None, token)
        assert allowed.status_code == 200 and "reelgate_upstream_calls_total" in allowed.text
    # the scrape token reads the metrics and nothing else
    assert call(fresh.url, "GET", "/admin/v1/accounts", None, METRICS_TOKEN).status_code == 401


@pytest.mark.once  # no store at all
def test_the_standalone_sandbox_keeps_its_documented_key(tmp_path: Path) -> None:
    """`reelgate sandbox` is a dev tool started on purpose: 'sandbox-key' works there, for
    its MiniMax API and its control endpoints alike (docs/sandbox.md)."""
    sandbox = Server(tmp_path, "unused", command="sandbox", unset=("REELGATE_SANDBOX_API_KEYS",))
    sandbox.start()
    try:
        for base in (sandbox.url, sandbox.url + "/sandbox"):
            faults = call(base, "GET", "/_control/faults", None, PUBLIC_KEY)
            assert faults.status_code == 200 and faults.json()["faults"] == {}
            query = call(base, "GET", "/v1/query/video_generation?task_id=1", None, PUBLIC_KEY)
            assert query.json()["base_resp"]["status_code"] == 2013  # known key, unknown task
            other = call(base, "GET", "/_control/faults", None, "another-key")
            assert other.json()["base_resp"]["status_code"] == 2049
    finally:
        sandbox.stop()
