"""The admin API and the operator's CLI against a real server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from reelgate.cli import app as cli_app
from tests.e2e.operator import T2V, T2V_PRICE, Operator
from tests.support import ADMIN_TOKEN, API_KEY, MiniMax, Server


def rows(database_url: str, sql: str) -> list[dict[str, Any]]:
    """Rows read straight from the store, bypassing the gateway."""

    async def run() -> list[dict[str, Any]]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                return [dict(r._mapping) for r in (await conn.execute(text(sql))).all()]
        finally:
            await engine.dispose()

    return asyncio.run(run())


# -- the admin token ---------------------------------------------------------------------

ADMIN_ROUTES = [
    ("GET", "/admin/v1/accounts"),
    ("POST", "/admin/v1/accounts"),
    ("GET", "/admin/v1/accounts/1"),
    ("PATCH", "/admin/v1/accounts/1"),
    ("POST", "/admin/v1/accounts/1/topup"),
    ("POST", "/admin/v1/accounts/1/suspend"),
    ("POST", "/admin/v1/accounts/1/keys"),
    ("POST", "/admin/v1/keys/1/revoke"),
    ("GET", "/admin/v1/accounts/1/ledger"),
    ("GET", "/admin/v1/usage"),
    ("GET", "/admin/v1/prices"),
]


@pytest.mark.parametrize(
    "token", [None, "rg-admin-wrong", API_KEY], ids=["no token", "wrong token", "an API key"]
)
def test_admin_api_needs_the_admin_token(server: Server, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=server.url, headers=headers, trust_env=False) as http:
        for method, path in ADMIN_ROUTES:
            resp = http.request(method, path, json={"name": "x", "amount": 1})
            assert resp.status_code == 401, (method, path, resp.text)
            assert resp.json()["error"]["kind"] == "unauthorized"
    # and nothing happened: the default account is still active with its balance
    with Operator(server) as op:
        account = op.call("GET", "/accounts/1")
        assert account["status"] == "active" and account["balance"] == 100_000
        assert [a["name"] for a in op.call("GET", "/accounts")["data"]].count("x") == 0


# -- accounts ----------------------------------------------------------------------------


def test_account_life(server: Server) -> None:
    with Operator(server) as op:
        account = op.account(credit=500, name="life")
        assert (account["name"], account["status"], account["balance"]) == ("life", "active", 500)
        assert account in op.call("GET", "/accounts")["data"]
        assert op.call("GET", f"/accounts/{account['id']}") == account

        topped = op.call(
            "POST", f"/accounts/{account['id']}/topup", json={"amount": 250, "note": "inv 1"}
        )
        assert topped["balance"] == 750
        assert op.call("POST", f"/accounts/{account['id']}/suspend")["status"] == "suspended"
        assert op.call("GET", f"/accounts/{account['id']}")["status"] == "suspended"
        assert op.call("POST", f"/accounts/{account['id']}/resume")["status"] == "active"

        ledger = op.ledger(account["id"])
        assert [(e["kind"], e["amount"], e["balance_after"], e["note"]) for e in ledger] == [
            ("topup", 250, 750, "inv 1"),
            ("topup", 500, 500, "initial credit"),
        ]

        # refusals say why, with a real HTTP status
        assert op.call("POST", "/accounts", 409, json={"name": "life"})["error"]["kind"] == (
            "conflict"
        )
        assert op.call("GET", "/accounts/999999", 404)["error"]["message"] == "no account 999999"
        op.call("POST", "/accounts/999999/topup", 404, json={"amount": 1})
        for amount in (0, -5, "10", 1.5, True, 10**16):  # money is a positive JSON integer
            op.call("POST", f"/accounts/{account['id']}/topup", 422, json={"amount": amount})
        op.call("POST", "/accounts", 422, json={"name": ""})
        assert op.balance(account["id"]) == 750


def test_prices(server: Server) -> None:
    with Operator(server) as op:
        prices = op.call("GET", "/prices")
    assert prices["currency"] == "USD"
    assert prices["models"]["T2V-01"] == {"720P-6s": T2V_PRICE}


# -- keys --------------------------------------------------------------------------------


def test_a_key_is_shown_once_and_stored_as_a_hash(server: Server) -> None:
    with Operator(server) as op:
        account_id, key = op.client(models=["T2V-01"], rpm_limit=10, max_in_flight=2)
        plaintext = key["key"]
        assert plaintext.startswith("sk-") and len(plaintext) > 40
        assert key["prefix"] == plaintext[:10] and plaintext.startswith(key["prefix"])
        assert (key["models"], key["rpm_limit"], key["max_in_flight"]) == (["T2V-01"], 10, 2)
        listed = op.call("GET", f"/accounts/{account_id}/keys")["data"]
        assert [k["id"] for k in listed] == [key["id"]]
        assert "key" not in listed[0] and plaintext not in json.dumps(listed)

    stored = rows(server.database_url, f"SELECT * FROM api_keys WHERE id = {key['id']}")
    assert len(stored) == 1
    assert plaintext not in json.dumps(stored, default=str)  # in no column at all
    assert stored[0]["hash"] == hashlib.sha256(plaintext.encode()).hexdigest()

    with MiniMax(server.url + "/minimaxi", plaintext) as mm:  # and it works
        assert mm.query("nope")["base_resp"]["status_code"] == 2013


# -- ledger and usage --------------------------------------------------------------------


def wait_finished(api: httpx.Client, platform_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task: dict[str, Any] = api.get(f"/v1/tasks/{platform_id}").json()
        if task["status"] in ("succeeded", "failed", "cancelled"):
            return task
        time.sleep(0.2)
    raise AssertionError(f"{platform_id} did not finish: {task}")


def test_ledger_and_usage_match_what_happened(server: Server) -> None:
    with Operator(server) as op:
        account_id, key = op.client(credit=1000)
        headers = {"Authorization": f"Bearer {key['key']}"}
        with (
            MiniMax(server.url + "/minimaxi", key["key"]) as mm,
            httpx.Client(base_url=server.url, headers=headers, trust_env=False) as api,
        ):
            first, second = mm.create(T2V), mm.create(T2V)
            api.post(f"/v1/tasks/{second['platform_id']}/cancel")  # 409 if it already won
            tasks = [wait_finished(api, t["platform_id"]) for t in (first, second)]
        assert tasks[0]["status"] == "succeeded"
        succeeded = [t for t in tasks if t["status"] == "succeeded"]
        ids = {t["platform_id"]: t["status"] for t in tasks}

        ledger = op.ledger(account_id)
        expected = {("topup", None, 1000)}
        for platform_id, status in ids.items():
            expected.add(("reserve", platform_id, -T2V_PRICE))
            if status == "succeeded":
                expected.add(("capture", platform_id, 0))
            else:
                expected.add(("refund", platform_id, T2V_PRICE))
        assert {(e["kind"], e["platform_id"], e["amount"]) for e in ledger} == expected
        assert len(ledger) == len(expected)
        balance = op.balance(account_id)
        assert balance == 1000 - T2V_PRICE * len(succeeded) == ledger[0]["balance_after"]

        usage = op.call("GET", "/usage", params={"account_id": account_id})["data"]
        assert len(usage) == 1
        row = usage[0]
        assert (row["account_id"], row["api_key_id"], row["model"]) == (
            account_id,
            key["id"],
            "T2V-01",
        )
        assert (row["tasks"], row["succeeded"]) == (2, len(succeeded))
        assert (row["seconds"], row["spend"]) == (6 * len(succeeded), T2V_PRICE * len(succeeded))
        assert op.call("GET", "/usage", params={"key_id": key["id"]})["data"] == usage
        assert (
            op.call("GET", "/usage", params={"account_id": account_id, "model": "S2V-01"})["data"]
            == []
        )
        later = {"account_id": account_id, "created_after": "2999-01-01T00:00:00"}
        assert op.call("GET", "/usage", params=later)["data"] == []
        # paging the ledger
        page = op.call("GET", f"/accounts/{account_id}/ledger", params={"limit": 2})["data"]
        rest = op.call("GET", f"/accounts/{account_id}/ledger", params={"before": page[-1]["id"]})[
            "data"
        ]
        assert page + rest == ledger
        op.call("GET", f"/accounts/{account_id}/ledger", 422, params={"limit": 0})


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
