"""Limits per account over real HTTP (issue 14, item 6): MiniMax counts its limits per
account, so an account's ``rpm_limit`` and ``max_in_flight`` bind all of its keys
together, next to each key's own. Set at creation, changed by PATCH, cleared by null;
refused with the key limits' codes (1002 on MiniMax's surface, 429 on the platform's)
and a message that names the account's limit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from reelgate.cli import app as cli_app
from tests.e2e.operator import T2V, T2V_PRICE, Operator
from tests.support import ADMIN_TOKEN, MiniMax, Server, count_tasks, fresh_database

QUERY = "/v1/query/video_generation?task_id=none"  # any authenticated request counts


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Slow tasks (7 s at least): the ones created stay in flight while the next arrives.
    data_dir = tmp_path_factory.mktemp("account-limits")
    with fresh_database(data_dir) as url:
        srv = Server(data_dir, url, env={"REELGATE_SANDBOX_TIMINGS": "1,1,5"}).start()
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture
def operator(server: Server) -> Iterator[Operator]:
    with Operator(server) as op:
        yield op


def limited_account(operator: Operator, **limits: Any) -> dict[str, Any]:
    body = {"name": f"acct-{uuid.uuid4().hex[:8]}", "initial_credit": 20 * T2V_PRICE, **limits}
    return operator.call("POST", "/accounts", 201, json=body)  # type: ignore[no-any-return]


def query_code(server: Server, key: dict[str, Any]) -> tuple[int, str]:
    with MiniMax(server.url + "/minimaxi", key["key"]) as mm:
        resp = mm.http.get(QUERY)
    assert resp.status_code == 200, resp.text
    base = resp.json()["base_resp"]
    return int(base["status_code"]), str(base["status_msg"])


def create(server: Server, key: dict[str, Any]) -> tuple[int, str, str | None]:
    """(code, message, platform_id) of a create."""
    with MiniMax(server.url + "/minimaxi", key["key"]) as mm:
        data = mm.create(T2V)
    return (
        data["base_resp"]["status_code"],
        data["base_resp"]["status_msg"],
        data.get("platform_id"),
    )


def cancel(server: Server, key: dict[str, Any], platform_id: str) -> None:
    headers = {"Authorization": f"Bearer {key['key']}"}
    resp = httpx.post(
        f"{server.url}/v1/tasks/{platform_id}/cancel", headers=headers, trust_env=False
    )
    assert resp.status_code == 200, resp.text


def test_rpm_limit_counts_all_of_the_accounts_keys(server: Server, operator: Operator) -> None:
    account = limited_account(operator, rpm_limit=4)
    assert account["rpm_limit"] == 4 and account["max_in_flight"] is None
    first, second = operator.key(account["id"]), operator.key(account["id"])
    for key in (first, second, first, second):  # N requests across both keys pass
        assert query_code(server, key)[0] == 2013  # (an unknown task: authenticated)
    for key in (first, second):  # the N+1th is refused, whichever key sends it
        code, message = query_code(server, key)
        assert code == 1002, message
        assert "account" in message and "rpm_limit" in message and "4 requests" in message
    listed = httpx.get(
        server.url + "/v1/tasks",
        headers={"Authorization": f"Bearer {second['key']}"},
        trust_env=False,
    )
    assert listed.status_code == 429
    error = listed.json()["error"]
    assert error["kind"] == "rate_limited" and "account" in error["message"]
    # another account, with the same limit, is not affected
    other = limited_account(operator, rpm_limit=4)
    assert query_code(server, operator.key(other["id"]))[0] == 2013


def test_a_keys_own_limit_still_holds_under_the_accounts(
    server: Server, operator: Operator
) -> None:
    account = limited_account(operator, rpm_limit=10)
    key = operator.key(account["id"], rpm_limit=1)
    assert query_code(server, key)[0] == 2013
    code, message = query_code(server, key)
    assert code == 1002 and "this key allows 1" in message
    # the key's refusal spent none of the account's budget: its sibling has 9 left
    sibling = operator.key(account["id"])
    for _ in range(9):
        assert query_code(server, sibling)[0] == 2013
    code, message = query_code(server, sibling)
    assert code == 1002 and "account" in message


def test_max_in_flight_counts_all_of_the_accounts_keys(server: Server, operator: Operator) -> None:
    account = limited_account(operator, max_in_flight=2)
    first, second = operator.key(account["id"]), operator.key(account["id"])
    code, _, one = create(server, first)
    assert code == 0
    code, _, two = create(server, second)  # at the boundary: both in flight
    assert code == 0 and one and two
    before = count_tasks(server.database_url)
    for key in (first, second):  # one past it, whichever key
        code, message, _ = create(server, key)
        assert code == 1002, message
        assert "account" in message and "max_in_flight" in message and "2 tasks" in message
    assert count_tasks(server.database_url) == before  # refused: nothing stored
    assert operator.balance(account["id"]) == 18 * T2V_PRICE  # nor reserved
    other = limited_account(operator, max_in_flight=2)  # another account is not affected
    other_key = operator.key(other["id"])
    code, _, theirs = create(server, other_key)
    assert code == 0 and theirs
    cancel(server, first, one)  # a finished task frees a slot for any of the keys
    code, _, three = create(server, second)
    assert code == 0 and three
    for key, task in ((second, two), (second, three), (other_key, theirs)):
        cancel(server, key, task)


def test_limits_change_by_patch_and_null_clears(server: Server, operator: Operator) -> None:
    account = limited_account(operator)
    path = f"/accounts/{account['id']}"
    key = operator.key(account["id"])
    code, _, one = create(server, key)
    assert code == 0 and one

    changed = operator.call("PATCH", path, json={"max_in_flight": 1, "rpm_limit": 3})
    assert (changed["rpm_limit"], changed["max_in_flight"]) == (3, 1)
    assert operator.call("GET", path) == changed
    code, message, _ = create(server, key)  # takes effect at once: 1 in flight already
    assert code == 1002 and "account" in message and "max_in_flight" in message
    for _ in range(2):  # the refused create above was the first request of three
        assert query_code(server, key)[0] == 2013
    assert query_code(server, key)[0] == 1002

    # only the fields sent change; null clears a limit
    cleared = operator.call("PATCH", path, json={"rpm_limit": None})
    assert (cleared["rpm_limit"], cleared["max_in_flight"]) == (None, 1)
    assert query_code(server, key)[0] == 2013
    cleared = operator.call("PATCH", path, json={"max_in_flight": None})
    assert (cleared["rpm_limit"], cleared["max_in_flight"]) == (None, None)
    code, _, two = create(server, key)
    assert code == 0 and two
    for task in (one, two):
        cancel(server, key, task)

    # bounded as the keys' limits are, and a misspelt field is refused, not ignored
    for body in ({"rpm_limit": 0}, {"max_in_flight": -1}, {"rpm": 5}, {"rpm_limit": 10**7}):
        operator.call("PATCH", path, 422, json=body)
    operator.call("POST", "/accounts", 422, json={"name": "bad-limit", "rpm_limit": 0})
    assert operator.call("PATCH", "/accounts/999999", 404, json={"rpm_limit": 1})
    assert operator.call("GET", path)["rpm_limit"] is None  # refusals changed nothing


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
