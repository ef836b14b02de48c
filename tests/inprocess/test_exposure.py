"""In front of a real MiniMax key the sandbox is not mounted unless asked for (issue 13,
item 5), in process: whether the app mounts it is the composition root's choice at start,
which needs no process of its own (moved from ``tests/e2e/test_exposure.py``, where it
started one gateway per case; what needs a real process stays there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from reelgate.services.bootstrap import SANDBOX_KEY_META
from reelgate.settings import STANDALONE_SANDBOX_KEY
from reelgate.store import tables
from tests.inprocess.harness import InProcess, in_process
from tests.support import migrated_database

pytestmark = pytest.mark.asyncio(loop_scope="module")

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


async def stored_sandbox_key(gateway: InProcess) -> str | None:
    async with gateway.gw.engine.connect() as conn:
        value = await conn.scalar(
            select(tables.meta.c.value).where(tables.meta.c.key == SANDBOX_KEY_META)
        )
    return str(value) if value is not None else None


@pytest.mark.once  # the store plays no part
@pytest.mark.parametrize("enabled", [None, False, True])
async def test_with_a_real_minimax_key_the_sandbox_is_mounted_only_when_asked(
    tmp_path: Path, enabled: bool | None
) -> None:
    real_key: dict[str, Any] = {
        "minimax_api_key": "a-real-minimax-key",
        "minimax_base_url": "http://127.0.0.1:9",  # never called here
        "sandbox_enabled": enabled,  # None: not set, the default
    }
    with migrated_database(tmp_path) as url:
        async with in_process(tmp_path / "gw", url, **real_key) as gateway:
            async with gateway.client(PUBLIC_KEY, "/sandbox") as sandbox:
                for method, path, body in [*MINIMAX_CALLS, *CONTROL]:
                    resp = await sandbox.request(method, path, json=body)
                    if enabled:  # mounted, and with a secret key of its own all the same
                        assert resp.status_code == 200, resp.text
                        assert resp.json()["base_resp"]["status_code"] in (1004, 2049), resp.text
                    else:
                        assert resp.status_code == 404, resp.text
            assert (await stored_sandbox_key(gateway) is not None) == bool(enabled)
