"""The admin API in process, on the fake upstream (moved from ``tests/e2e/test_admin.py``;
the operator's CLI, which runs as a process of its own, stays there)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import text

from tests.inprocess.harness import InProcess
from tests.inprocess.operator import T2V, T2V_PRICE, Operator
from tests.support import API_KEY

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def rows(gateway: InProcess, sql: str) -> list[dict[str, Any]]:
    """Rows read straight from the store, bypassing the gateway."""
    async with gateway.gw.engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(text(sql))).all()]


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
async def test_admin_api_needs_the_admin_token(gateway: InProcess, token: str | None) -> None:
    async with gateway.client(token) as http:
        for method, path in ADMIN_ROUTES:
            resp = await http.request(method, path, json={"name": "x", "amount": 1})
            assert resp.status_code == 401, (method, path, resp.text)
            assert resp.json()["error"]["kind"] == "unauthorized"
    # and nothing happened: the default account is still active with its balance
    async with Operator(gateway) as op:
        account = await op.call("GET", "/accounts/1")
        assert account["status"] == "active" and account["balance"] == 100_000
        assert [a["name"] for a in (await op.call("GET", "/accounts"))["data"]].count("x") == 0


# -- accounts ----------------------------------------------------------------------------


async def test_account_life(gateway: InProcess) -> None:
    async with Operator(gateway) as op:
        account = await op.account(credit=500, name="life")
        assert (account["name"], account["status"], account["balance"]) == ("life", "active", 500)
        assert account in (await op.call("GET", "/accounts"))["data"]
        assert await op.call("GET", f"/accounts/{account['id']}") == account

        topped = await op.call(
            "POST", f"/accounts/{account['id']}/topup", json={"amount": 250, "note": "inv 1"}
        )
        assert topped["balance"] == 750
        suspended = await op.call("POST", f"/accounts/{account['id']}/suspend")
        assert suspended["status"] == "suspended"
        assert (await op.call("GET", f"/accounts/{account['id']}"))["status"] == "suspended"
        resumed = await op.call("POST", f"/accounts/{account['id']}/resume")
        assert resumed["status"] == "active"

        ledger = await op.ledger(account["id"])
        assert [(e["kind"], e["amount"], e["balance_after"], e["note"]) for e in ledger] == [
            ("topup", 250, 750, "inv 1"),
            ("topup", 500, 500, "initial credit"),
        ]

        # refusals say why, with a real HTTP status
        conflict = await op.call("POST", "/accounts", 409, json={"name": "life"})
        assert conflict["error"]["kind"] == "conflict"
        missing = await op.call("GET", "/accounts/999999", 404)
        assert missing["error"]["message"] == "no account 999999"
        await op.call("POST", "/accounts/999999/topup", 404, json={"amount": 1})
        for amount in (0, -5, "10", 1.5, True, 10**16):  # money is a positive JSON integer
            await op.call("POST", f"/accounts/{account['id']}/topup", 422, json={"amount": amount})
        await op.call("POST", "/accounts", 422, json={"name": ""})
        assert await op.balance(account["id"]) == 750


async def test_prices(gateway: InProcess) -> None:
    async with Operator(gateway) as op:
        prices = await op.call("GET", "/prices")
    assert prices["currency"] == "USD"
    assert prices["models"]["T2V-01"] == {"720P-6s": T2V_PRICE}


# -- keys --------------------------------------------------------------------------------


async def test_a_key_is_shown_once_and_stored_as_a_hash(gateway: InProcess) -> None:
    async with Operator(gateway) as op:
        account_id, key = await op.client(models=["T2V-01"], rpm_limit=10, max_in_flight=2)
        plaintext = key["key"]
        assert plaintext.startswith("sk-") and len(plaintext) > 40
        assert key["prefix"] == plaintext[:10] and plaintext.startswith(key["prefix"])
        assert (key["models"], key["rpm_limit"], key["max_in_flight"]) == (["T2V-01"], 10, 2)
        listed = (await op.call("GET", f"/accounts/{account_id}/keys"))["data"]
        assert [k["id"] for k in listed] == [key["id"]]
        assert "key" not in listed[0] and plaintext not in json.dumps(listed)

    stored = await rows(gateway, f"SELECT * FROM api_keys WHERE id = {key['id']}")
    assert len(stored) == 1
    assert plaintext not in json.dumps(stored, default=str)  # in no column at all
    assert stored[0]["hash"] == hashlib.sha256(plaintext.encode()).hexdigest()

    async with gateway.client(plaintext, "/minimaxi") as mm:  # and it works
        resp = await mm.get("/v1/query/video_generation", params={"task_id": "nope"})
        assert resp.json()["base_resp"]["status_code"] == 2013


# -- ledger and usage --------------------------------------------------------------------


async def test_ledger_and_usage_match_what_happened(gateway: InProcess) -> None:
    async with Operator(gateway) as op:
        account_id, key = await op.client(credit=1000)
        async with (
            gateway.client(key["key"], "/minimaxi") as mm,
            gateway.client(key["key"]) as api,
        ):
            first, second = [
                (await mm.post("/v1/video_generation", json=T2V)).json() for _ in range(2)
            ]
            await api.post(f"/v1/tasks/{second['platform_id']}/cancel")  # 409 if it already won
            await gateway.finish(first["task_id"])  # the upstream finishes the first
            tasks = [
                (await api.get(f"/v1/tasks/{t['platform_id']}")).json() for t in (first, second)
            ]
        assert tasks[0]["status"] == "succeeded"
        assert tasks[1]["status"] in ("succeeded", "failed", "cancelled")  # both finished
        succeeded = [t for t in tasks if t["status"] == "succeeded"]
        ids = {t["platform_id"]: t["status"] for t in tasks}

        ledger = await op.ledger(account_id)
        expected = {("topup", None, 1000)}
        for platform_id, status in ids.items():
            expected.add(("reserve", platform_id, -T2V_PRICE))
            if status == "succeeded":
                expected.add(("capture", platform_id, 0))
            else:
                expected.add(("refund", platform_id, T2V_PRICE))
        assert {(e["kind"], e["platform_id"], e["amount"]) for e in ledger} == expected
        assert len(ledger) == len(expected)
        balance = await op.balance(account_id)
        assert balance == 1000 - T2V_PRICE * len(succeeded) == ledger[0]["balance_after"]

        usage = (await op.call("GET", "/usage", params={"account_id": account_id}))["data"]
        assert len(usage) == 1
        row = usage[0]
        assert (row["account_id"], row["api_key_id"], row["model"]) == (
            account_id,
            key["id"],
            "T2V-01",
        )
        assert (row["tasks"], row["succeeded"]) == (2, len(succeeded))
        assert (row["seconds"], row["spend"]) == (6 * len(succeeded), T2V_PRICE * len(succeeded))
        assert (await op.call("GET", "/usage", params={"key_id": key["id"]}))["data"] == usage
        other_model = {"account_id": account_id, "model": "S2V-01"}
        assert (await op.call("GET", "/usage", params=other_model))["data"] == []
        later = {"account_id": account_id, "created_after": "2999-01-01T00:00:00"}
        assert (await op.call("GET", "/usage", params=later))["data"] == []
        # paging the ledger
        ledger_path = f"/accounts/{account_id}/ledger"
        page = (await op.call("GET", ledger_path, params={"limit": 2}))["data"]
        rest = (await op.call("GET", ledger_path, params={"before": page[-1]["id"]}))["data"]
        assert page + rest == ledger
        await op.call("GET", ledger_path, 422, params={"limit": 0})
