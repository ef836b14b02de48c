"""The operator's CLI against a real server. (The admin API itself is tested in process:
``tests/inprocess/test_admin.py``.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from reelgate.cli import app as cli_app
from tests.e2e.operator import T2V
from tests.support import ADMIN_TOKEN, MiniMax, Server

# -- the CLI -------------------------------------------------------------------------------

CLI_COMMANDS = [
    [],
    ["accounts"],
    *(["accounts", c] for c in ("create", "list", "show", "topup", "limits", "suspend", "resume")),
    ["keys"],
    *(["keys", c] for c in ("create", "list", "revoke")),
    ["usage"],
    ["ledger"],
]


@pytest.mark.parametrize("command", CLI_COMMANDS, ids=lambda c: " ".join(c) or "reelgate")
def test_every_operator_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli_app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and len(result.output) > 200
    if len(command) == 2 or command in (["usage"], ["ledger"]):
        assert "REELGATE_ADMIN_URL" in result.output and "--json" in result.output


def reelgate(server: Server | None, *args: str, token: str = ADMIN_TOKEN) -> tuple[int, str, str]:
    """``python -m reelgate ...`` in a process of its own, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELGATE_")}
    env["COLUMNS"] = "200"  # one line per table row, for the assertions
    if server is not None:
        env["REELGATE_ADMIN_URL"] = server.url
    if token:
        env["REELGATE_ADMIN_TOKEN"] = token
    done = subprocess.run(
        [sys.executable, "-m", "reelgate", *args], capture_output=True, text=True, env=env
    )
    return done.returncode, done.stdout, done.stderr


def cli(server: Server, *args: str, token: str | None = ADMIN_TOKEN) -> tuple[int, str, str]:
    """The same command in this process (a new interpreter costs about a second here);
    it still talks to the real server over HTTP."""
    env = {"REELGATE_ADMIN_URL": server.url, "REELGATE_ADMIN_TOKEN": token}
    result = CliRunner().invoke(cli_app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_cli_end_to_end(server: Server) -> None:
    rc, out, err = reelgate(server, "accounts", "create", "cli-co", "--credit", "100000", "--json")
    assert rc == 0, err
    account = json.loads(out)
    account_id = str(account["id"])
    assert account["balance"] == 100_000

    rc, out, err = reelgate(server, "accounts", "topup", account_id, "250", "--note", "PO 12")
    assert rc == 0, err
    assert "2.50 USD" in out and "1,002.50 USD" in out and "100250" in out

    rc, out, err = reelgate(
        server, "keys", "create", account_id, "--name", "ci", "--model", "T2V-01",
        "--model", "MiniMax-Hailuo-02", "--rpm", "30", "--max-in-flight", "2",
        "--expires", "2999-01-01",
    )  # fmt: skip
    assert rc == 0, err
    assert "shown this once" in out
    plaintext = next(word for word in out.split() if word.startswith("sk-") and len(word) > 40)
    with MiniMax(server.url + "/minimaxi", plaintext) as mm:
        created = mm.create(T2V)
        assert created["base_resp"]["status_code"] == 0

    rc, out, err = reelgate(server, "accounts", "show", account_id)
    assert rc == 0, err
    assert "cli-co" in out and "reserve" in out and "PO 12" in out
    assert "1,002.07 USD" in out and "(100207)" in out  # 1,002.50 less the task's 0.43

    rc, out, err = reelgate(server, "ledger", account_id, "--json")
    assert rc == 0, err
    kinds = [e["kind"] for e in json.loads(out)["data"]]  # newest first
    assert kinds in (["reserve", "topup", "topup"], ["capture", "reserve", "topup", "topup"])

    rc, out, err = cli(server, "keys", "list", account_id, "--json")
    assert rc == 0, err
    keys = json.loads(out)["data"]
    assert len(keys) == 1 and keys[0]["models"] == ["T2V-01", "MiniMax-Hailuo-02"]
    assert keys[0]["rpm_limit"] == 30 and keys[0]["expires_at"].startswith("2999-01-01T00:00:00")
    key_id = str(keys[0]["id"])
    rc, out, err = cli(server, "keys", "list", account_id)
    assert rc == 0 and keys[0]["prefix"] in out and plaintext not in out and "active" in out

    rc, out, err = cli(server, "accounts", "list")
    assert rc == 0 and "cli-co" in out and "default" in out

    rc, out, err = cli(server, "usage", "--account", account_id, "--since", "2000-01-01")
    assert rc == 0, err
    assert "T2V-01" in out and "total" in out
    rc, out, err = cli(server, "usage", "--account", account_id, "--json")
    assert rc == 0 and json.loads(out)["data"][0]["tasks"] == 1
    rc, out, err = cli(server, "usage", "--account", account_id, "--until", "2000-01-01")
    assert rc == 0 and "no tasks match" in out

    rc, out, err = cli(server, "accounts", "suspend", account_id)
    assert rc == 0 and "suspended" in out
    with MiniMax(server.url + "/minimaxi", plaintext) as mm:
        assert mm.query("x")["base_resp"]["status_code"] == 1004
    rc, out, err = cli(server, "accounts", "resume", account_id)
    assert rc == 0 and "active" in out

    rc, out, err = cli(server, "keys", "revoke", key_id)
    assert rc == 0 and "revoked" in out
    with MiniMax(server.url + "/minimaxi", plaintext) as mm:
        assert mm.query("x")["base_resp"]["status_code"] == 1004  # 2049 on create only
        assert mm.create(T2V)["base_resp"]["status_code"] == 2049


def test_cli_errors_are_clear(server: Server) -> None:
    rc, _, err = reelgate(server, "accounts", "show", "999999")
    assert rc == 1 and "HTTP 404" in err and "no account 999999" in err
    rc, _, err = cli(server, "accounts", "list", token="rg-admin-wrong")
    assert rc == 1 and "HTTP 401" in err and "invalid admin token" in err
    rc, _, err = cli(server, "accounts", "list", token=None)
    assert rc == 2 and "REELGATE_ADMIN_TOKEN" in err
    rc, _, err = cli(server, "accounts", "list", "--url", "http://127.0.0.1:9")
    assert rc == 3 and "cannot reach the gateway" in err
    rc, _, err = cli(server, "keys", "create", "1", "--name", "x", "--expires", "soon")
    assert rc == 2 and "ISO 8601" in err
    rc, _, err = cli(server, "keys", "create", "1", "--name", "x", "--model", "Sora-2")
    assert rc == 1 and "HTTP 400" in err and "Sora-2" in err
