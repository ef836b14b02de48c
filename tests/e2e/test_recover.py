"""`reelgate recover`: an operator who lost the first-start credentials regains access
from the local store (issue 13, item 11), against a running gateway, on either store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ADMIN_TOKEN, API_KEY, Server, gateway_process


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A gateway of this module's own, not the shared one: it replaces the admin token
    that every other module signs in with."""
    with gateway_process(tmp_path_factory.mktemp("gateway")) as srv:
        yield srv


def recover(
    server: Server, *args: str, data_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`reelgate recover ...` with the server's store settings and no fixed credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELGATE_")}
    env["REELGATE_DATA_DIR"] = str(data_dir or server.data_dir)
    if data_dir is None:
        env["REELGATE_DATABASE_URL"] = server.database_url
    return subprocess.run(
        [sys.executable, "-m", "reelgate", "recover", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def admin_status(server: Server, token: str) -> int:
    resp = httpx.get(
        server.url + "/admin/v1/accounts",
        headers={"Authorization": f"Bearer {token}"},
        trust_env=False,
    )
    return resp.status_code


def test_a_recovered_admin_token_replaces_the_lost_one(server: Server) -> None:
    assert admin_status(server, ADMIN_TOKEN) == 200
    out = recover(server, "admin-token")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.startswith("rg-admin-") and len(token) > 40 and "\n" not in token
    assert "The old token no longer works" in out.stderr
    # the running gateway re-reads the token's hash within its cache time (2 s)
    deadline = time.monotonic() + 10
    while admin_status(server, token) != 200:
        assert time.monotonic() < deadline, "the running gateway never took the new token"
        time.sleep(0.1)
    assert admin_status(server, ADMIN_TOKEN) == 401


def test_a_recovered_api_key_works_and_the_others_still_do(server: Server) -> None:
    out = recover(server, "api-key", "default", "--name", "after-loss")
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip()
    assert key.startswith("sk-") and "account 'default'" in out.stderr
    for secret in (key, API_KEY):
        resp = httpx.get(
            server.url + "/v1/tasks",
            headers={"Authorization": f"Bearer {secret}"},
            trust_env=False,
        )
        assert resp.status_code == 200, resp.text


def test_recover_refuses_what_it_cannot_do(server: Server, tmp_path: Path) -> None:
    missing = recover(server, "api-key", "no-such-account")
    assert missing.returncode == 1 and "no account 'no-such-account'" in missing.stderr
    assert missing.stdout == ""
    # run where no store is: it says so and creates none (an empty one would open nothing)
    elsewhere = recover(server, "admin-token", data_dir=tmp_path / "empty")
    assert elsewhere.returncode == 2, elsewhere.stderr
    assert "there is no store at" in elsewhere.stderr and elsewhere.stdout == ""
    assert not (tmp_path / "empty" / "reelgate.db").exists()
