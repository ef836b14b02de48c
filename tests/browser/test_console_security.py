"""The console's security, in process over httpx: the session cookie's flags, sign-in and
CSRF on every change, one account never reaching another's tasks, the operator pages
closed to an API key (and the user pages to the operator), a revoked key's session over.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import pytest_asyncio

from reelgate.console.signin import MAX_CREDENTIAL
from reelgate.domain import bounds
from tests.browser.console import Browser
from tests.inprocess.harness import InProcess
from tests.inprocess.operator import T2V, Operator
from tests.support import ADMIN_TOKEN, API_KEY

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass(frozen=True)
class Other:
    """Another account: its key and an unfinished task of it (both ids)."""

    account_id: int
    key: str
    platform_id: str
    task_id: str


async def create_task(gateway: InProcess, key: str) -> tuple[str, str]:
    async with gateway.client(key, "/minimaxi/v1") as mm:
        made = (await mm.post("/video_generation", json=T2V)).json()
    assert made["base_resp"]["status_code"] == 0, made
    return made["platform_id"], made["task_id"]


async def status_of(gateway: InProcess, key: str, any_id: str) -> str:
    async with gateway.client(key) as api:
        resp = await api.get(f"/v1/tasks/{any_id}")
    assert resp.status_code == 200, resp.text
    return str(resp.json()["status"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def other(gateway: InProcess) -> Other:
    async with Operator(gateway) as op:
        account_id, key = await op.client(credit=10_000)
    platform_id, task_id = await create_task(gateway, key["key"])
    return Other(account_id, key["key"], platform_id, task_id)


async def test_the_session_cookie_is_httponly_strict_and_secure_over_https(
    gateway: InProcess,
) -> None:
    async with Browser(gateway) as tab:
        anonymous = (await tab.page("/console/login")).cookies["rg_console"]
        resp = await tab.sign_in(API_KEY)
        cookie = resp.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
        assert "secure" not in cookie  # plain HTTP: a Secure cookie would never come back
        assert resp.cookies["rg_console"] != anonymous  # a new id at sign-in
    async with Browser(gateway, **{"X-Forwarded-Proto": "https"}) as tab:
        # behind a proxy that ends TLS (httpx then keeps the Secure cookie to itself)
        assert "; secure" in (await tab.http.get("/console/login")).headers["set-cookie"].lower()


async def test_sign_in_takes_the_forms_token_and_a_valid_credential(gateway: InProcess) -> None:
    async with Browser(gateway) as tab:
        await tab.page("/console/login")
        resp = await tab.http.post("/console/login", data={"credential": API_KEY})
        assert resp.status_code == 403  # no CSRF token: another site's form
        assert (await tab.http.get("/console/tasks")).headers["location"] == "/console/login"
        for wrong, message in (
            ("sk-not-a-key", "not a valid API key"),
            ("x" * MAX_CREDENTIAL, "not a valid API key"),  # hashed and looked up
            ("x" * (MAX_CREDENTIAL + 1), "not an API key"),  # refused unhashed
        ):
            resp = await tab.sign_in(wrong, expect=401)
            assert message in resp.text
        assert "rg_console" in resp.cookies  # a fresh anonymous session, never signed in
        assert (await tab.http.get("/console/tasks")).status_code == 303


async def test_pages_need_a_session(gateway: InProcess) -> None:
    async with Browser(gateway) as tab:
        resp = await tab.http.get("/console/tasks")
        assert resp.status_code == 303 and resp.headers["location"] == "/console/login"
        resp = await tab.http.get("/console/tasks", headers={"HX-Request": "true"})
        assert resp.headers["hx-redirect"] == "/console/login"
        assert (await tab.http.get("/console/admin")).status_code == 303


async def test_every_change_needs_the_sessions_csrf_token(gateway: InProcess) -> None:
    platform_id, _ = await create_task(gateway, API_KEY)
    cancel = f"/console/tasks/{platform_id}/cancel"
    async with Browser(gateway) as tab, Browser(gateway) as second:
        await tab.sign_in(API_KEY)
        await second.sign_in(API_KEY)
        assert (await tab.post(cancel, {"csrf": None})).status_code == 403
        assert (await tab.post(cancel, {"csrf": tab.csrf[:-1]})).status_code == 403
        # another session's token is not this session's
        assert (await tab.post(cancel, {"csrf": second.csrf})).status_code == 403
        assert await status_of(gateway, API_KEY, platform_id) == "queued"
        resp = await tab.http.post(cancel, headers={"X-CSRF-Token": tab.csrf})  # htmx's way
        assert resp.status_code == 303
        assert await status_of(gateway, API_KEY, platform_id) == "cancelled"
        resp = await tab.http.post("/console/logout")
        assert resp.status_code == 403  # even signing out: no token, no change
        assert (await tab.post("/console/logout")).status_code == 303
        assert (await tab.http.get("/console/tasks")).status_code == 303


async def test_another_accounts_task_reads_exactly_as_a_missing_one(
    gateway: InProcess, other: Other
) -> None:
    async with Browser(gateway) as tab:
        await tab.sign_in(API_KEY)
        for any_id in (other.platform_id, other.task_id, "video_01JAAAAAAAAAAAAAAAAAAAAAAA"):
            for suffix in ("", "/row", "/card", "/events"):
                resp = await tab.http.get(f"/console/tasks/{any_id}{suffix}")
                assert resp.status_code == 404, (any_id, suffix)
                assert other.platform_id not in resp.text
            for action in ("/cancel", "/deliveries/1/redeliver"):
                resp = await tab.post(f"/console/tasks/{any_id}{action}")
                assert resp.status_code == 404, (any_id, action)
        listing = (await tab.page("/console/tasks")).text
        assert other.platform_id not in listing and other.task_id not in listing
        usage = (await tab.page("/console/usage")).text
        assert other.platform_id not in usage
    assert await status_of(gateway, other.key, other.platform_id) == "queued"
    async with Browser(gateway) as tab:  # the owner sees it
        await tab.sign_in(other.key)
        assert other.platform_id in (await tab.page(f"/console/tasks/{other.task_id}")).text


ADMIN_PAGES = ("", "/accounts", "/accounts/1", "/channels", "/prices")


async def test_the_operator_pages_refuse_an_api_key(gateway: InProcess, other: Other) -> None:
    async with Browser(gateway) as tab:
        await tab.sign_in(API_KEY)
        for page in ADMIN_PAGES:
            resp = await tab.http.get(f"/console/admin{page}")
            assert resp.status_code == 403, page
            assert "need the admin token" in resp.text
        before = (await gateway.admin().get("/accounts")).json()["data"]
        changes = (
            ("/console/admin/accounts", {"name": "sneaky"}),
            (f"/console/admin/accounts/{other.account_id}/topup", {"amount": "5"}),
            (f"/console/admin/accounts/{other.account_id}/suspend", {}),
            ("/console/admin/keys/1/revoke", {}),
            ("/console/admin/channels/sandbox/disable", {}),
        )
        for path, data in changes:
            assert (await tab.post(path, data)).status_code == 403, path
        assert (await gateway.admin().get("/accounts")).json()["data"] == before
    async with Browser(gateway) as tab:
        await tab.sign_in(ADMIN_TOKEN)
        for page in ADMIN_PAGES:
            await tab.page(f"/console/admin{page}")
        # and the operator has no account of its own to show tasks of
        assert (await tab.http.get("/console/tasks")).status_code == 403


async def test_a_revoked_key_ends_its_sessions(gateway: InProcess, other: Other) -> None:
    async with Operator(gateway) as op:
        key = await op.key(other.account_id)
    async with Browser(gateway) as tab:
        await tab.sign_in(key["key"])
        await tab.page("/console/tasks")
        async with Operator(gateway) as op:
            await op.call("POST", f"/keys/{key['id']}/revoke")
        resp = await tab.http.get("/console/tasks")
        assert resp.status_code == 303 and resp.headers["location"] == "/console/login"


async def test_top_up_amounts_are_bounded(gateway: InProcess, other: Other) -> None:
    async with Browser(gateway) as tab, Operator(gateway) as op:
        await tab.sign_in(ADMIN_TOKEN)
        await tab.page(f"/console/admin/accounts/{other.account_id}")
        path = f"/console/admin/accounts/{other.account_id}/topup"
        start = await op.balance(other.account_id)
        for amount in ("0", str(bounds.MAX_AMOUNT + 1), "-1", "1.5", ""):
            assert (await tab.post(path, {"amount": amount})).status_code in (400, 422), amount
        assert await op.balance(other.account_id) == start
        assert (await tab.post(path, {"amount": "1"})).status_code == 303
        assert (await tab.post(path, {"amount": str(bounds.MAX_AMOUNT)})).status_code == 303
        assert await op.balance(other.account_id) == start + 1 + bounds.MAX_AMOUNT
