"""Limits per account (issue 14, item 6) set and changed by the operator's CLI against a
real server. The limits themselves (what they count, how they refuse) are tested in
process: ``tests/inprocess/test_account_limits.py``.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from reelgate.cli import app as cli_app
from tests.support import ADMIN_TOKEN, Server


def cli(server: Server, *args: str) -> tuple[int, str, str]:
    """The operator's command in this process, against the real server over HTTP."""
    env = {"REELGATE_ADMIN_URL": server.url, "REELGATE_ADMIN_TOKEN": ADMIN_TOKEN}
    result = CliRunner().invoke(cli_app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_cli_sets_and_changes_account_limits(server: Server) -> None:
    rc, out, err = cli(
        server, "accounts", "create", "cli-limits", "--rpm-limit", "30", "--max-in-flight", "2",
        "--json",
    )  # fmt: skip
    assert rc == 0, err
    account = json.loads(out)
    assert (account["rpm_limit"], account["max_in_flight"]) == (30, 2)
    account_id = str(account["id"])

    rc, out, err = cli(server, "accounts", "limits", account_id, "--rpm-limit", "none")
    assert rc == 0, err
    assert "rpm_limit none" in out and "max_in_flight 2" in out
    rc, out, err = cli(server, "accounts", "limits", account_id, "--max-in-flight", "5", "--json")
    assert rc == 0, err
    assert (json.loads(out)["rpm_limit"], json.loads(out)["max_in_flight"]) == (None, 5)
    rc, out, err = cli(server, "accounts", "limits", account_id)  # no option: shows them
    assert rc == 0 and "max_in_flight 5" in out
    rc, out, err = cli(server, "accounts", "list")
    assert rc == 0 and "cli-limits" in out
    rc, _, err = cli(server, "accounts", "limits", account_id, "--rpm-limit", "0")
    assert rc == 2 and "none" in err


@pytest.mark.parametrize("command", ["create", "limits"])
def test_account_limit_commands_have_help(command: str) -> None:
    result = CliRunner().invoke(cli_app, ["accounts", command, "--help"])
    assert result.exit_code == 0, result.output
    assert "--rpm-limit" in result.output and "--max-in-flight" in result.output
