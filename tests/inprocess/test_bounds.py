"""Numbers and times past what the store can hold get a clear 4xx, never a 500 (issue 13).
In process: the app over ASGI on a fresh store of the pass's kind.

Each value below once reached the database driver and failed there (an OverflowError on
SQLite, a DataError on PostgreSQL, or ``astimezone`` overflowing): a 500 that also reset
the client's connection. Every limit is tried at the boundary and one past it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from reelgate.domain.bounds import INT64_MAX, MAX_IN_FLIGHT, MAX_PRIORITY, MAX_RATE, MAX_WEIGHT
from tests.inprocess.harness import InProcess

pytestmark = pytest.mark.asyncio(loop_scope="module")

PAST_INT64 = [str(INT64_MAX + 1), "99999999999999999999"]
BEFORE_YEAR_1 = "0001-01-01T00:01:00+04:04"  # 0000-12-31T19:57Z
AFTER_YEAR_9999 = "9999-12-31T23:59:59-01:00"  # 10000-01-01T00:59:59Z


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(gateway: InProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway.client() as c:
        yield c


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin(gateway: InProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway.admin() as c:
        yield c


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def own_task(gateway: InProcess) -> str:
    async with gateway.client(path="/minimaxi") as mm:
        body = {"model": "T2V-01", "prompt": "a paper boat on a pond"}
        created = (await mm.post("/v1/video_generation", json=body)).json()
    assert created["base_resp"]["status_code"] == 0, created
    return str(created["platform_id"])


def refused(resp: httpx.Response, status: int, *words: str) -> None:
    """A 4xx in the platform's error shape whose message names what is wrong."""
    assert resp.status_code == status, (resp.request.url, resp.status_code, resp.text)
    body = resp.json()
    assert body["error"]["code"] == 2013 and body["request_id"], body
    for word in words:
        assert word in body["error"]["message"], body


# -- times --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "value"), [("created_before", BEFORE_YEAR_1), ("created_after", AFTER_YEAR_9999)]
)
async def test_list_tasks_refuses_times_outside_the_utc_range(
    api: httpx.AsyncClient, own_task: str, param: str, value: str
) -> None:
    refused(await api.get("/v1/tasks", params={param: value}), 422, param, "years 1 to 9999")


async def test_list_tasks_accepts_the_first_and_last_instants(
    api: httpx.AsyncClient, own_task: str
) -> None:
    first = "0001-01-01T04:04:00+04:04"  # 0001-01-01T00:00:00Z exactly
    last = "9999-12-31T22:59:59.999999-01:00"  # 9999-12-31T23:59:59.999999Z
    for params, found in (
        ({"created_before": first}, False),
        ({"created_after": first}, True),
        ({"created_after": last}, False),
        ({"created_before": last}, True),
    ):
        resp = await api.get("/v1/tasks", params=params)
        assert resp.status_code == 200, resp.text
        ids = [t["platform_id"] for t in resp.json()["data"]]
        assert (own_task in ids) is found, params


async def test_usage_refuses_times_outside_the_utc_range(admin: httpx.AsyncClient) -> None:
    refused(
        await admin.get("/usage", params={"created_before": BEFORE_YEAR_1}), 422, "created_before"
    )
    refused(
        await admin.get("/usage", params={"created_after": AFTER_YEAR_9999}), 422, "created_after"
    )
    late = await admin.get("/usage", params={"created_after": "9999-12-31T23:59:59Z"})
    assert late.json() == {"data": []}


async def test_key_expiry_outside_the_utc_range_is_refused(admin: httpx.AsyncClient) -> None:
    body = {"name": "k", "expires_at": AFTER_YEAR_9999}
    refused(await admin.post("/accounts/1/keys", json=body), 422, "expires_at", "years 1 to 9999")


# -- ids in paths and queries ------------------------------------------------------------------


@pytest.mark.parametrize("big", PAST_INT64)
async def test_redeliver_refuses_a_delivery_id_past_64_bits(
    api: httpx.AsyncClient, own_task: str, big: str
) -> None:
    refused(await api.post(f"/v1/tasks/{own_task}/deliveries/{big}/redeliver"), 422, "delivery_id")
    at_max = await api.post(f"/v1/tasks/{own_task}/deliveries/{INT64_MAX}/redeliver")
    refused(at_max, 404, "no such delivery")


ID_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/accounts/{id}", None),
    ("POST", "/accounts/{id}/topup", {"amount": 1}),
    ("POST", "/accounts/{id}/suspend", None),
    ("POST", "/accounts/{id}/resume", None),
    ("POST", "/accounts/{id}/keys", {"name": "k"}),
    ("GET", "/accounts/{id}/keys", None),
    ("GET", "/accounts/{id}/ledger", None),
    ("POST", "/keys/{id}/revoke", None),
    ("POST", "/accounts/{id}/webhook-secret", None),
    ("GET", "/accounts/{id}/webhook-secret", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ID_ROUTES, ids=lambda v: str(v))
async def test_admin_ids_past_64_bits_are_refused(
    admin: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    for big in PAST_INT64:
        refused(await admin.request(method, path.format(id=big), json=body), 422, "_id")
    # the largest id the store can hold is looked up, and is simply not there
    refused(await admin.request(method, path.format(id=INT64_MAX), json=body), 404)


@pytest.mark.parametrize(
    ("path", "param"),
    [("/accounts/1/ledger", "before"), ("/usage", "account_id"), ("/usage", "key_id")],
)
async def test_admin_query_ids_past_64_bits_are_refused(
    admin: httpx.AsyncClient, path: str, param: str
) -> None:
    for big in PAST_INT64:
        refused(await admin.get(path, params={param: big}), 422, param)
    resp = await admin.get(path, params={param: INT64_MAX})
    assert resp.status_code == 200, resp.text


def cursor(task_id: int) -> str:
    return base64.urlsafe_b64encode(f"t{task_id}".encode()).decode().rstrip("=")


async def test_a_cursor_past_64_bits_is_refused(api: httpx.AsyncClient, own_task: str) -> None:
    for big in PAST_INT64:
        refused(await api.get("/v1/tasks", params={"cursor": cursor(int(big))}), 400, "cursor")
    resp = await api.get("/v1/tasks", params={"cursor": cursor(INT64_MAX)})
    assert resp.status_code == 200 and own_task in [t["platform_id"] for t in resp.json()["data"]]


# -- limits and amounts in bodies --------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "top"), [("rpm_limit", MAX_RATE), ("max_in_flight", MAX_IN_FLIGHT)]
)
async def test_key_limits_are_bounded(admin: httpx.AsyncClient, field: str, top: int) -> None:
    for over in (top + 1, 2**31, INT64_MAX + 1):
        refused(await admin.post("/accounts/1/keys", json={"name": "k", field: over}), 422, field)
    resp = await admin.post("/accounts/1/keys", json={"name": "k", field: top})
    assert resp.status_code == 201 and resp.json()[field] == top, resp.text


async def test_amounts_past_64_bits_are_refused(admin: httpx.AsyncClient) -> None:
    big = INT64_MAX + 1
    refused(await admin.post("/accounts/1/topup", json={"amount": big}), 422, "amount")
    refused(
        await admin.post("/accounts", json={"name": "rich", "initial_credit": big}), 422, "credit"
    )


CHANNEL_LIMITS = [
    ("priority", MAX_PRIORITY, -MAX_PRIORITY),
    ("weight", MAX_WEIGHT, 0),
    ("rpm", MAX_RATE, 1),
    ("max_in_flight", MAX_IN_FLIGHT, 1),
]


@pytest.mark.parametrize(("field", "top", "bottom"), CHANNEL_LIMITS)
async def test_channel_limits_are_bounded(
    admin: httpx.AsyncClient, field: str, top: int, bottom: int
) -> None:
    name = f"bounded-{field.replace('_', '-')}"
    base = {"name": name, "base_url": "https://upstream.invalid", "api_key": "k", "enabled": False}
    for over in (top + 1, bottom - 1, 2**31, INT64_MAX + 1, -(INT64_MAX + 2)):
        refused(await admin.post("/channels", json={**base, field: over}), 422, field)
    resp = await admin.post("/channels", json={**base, field: top})
    assert resp.status_code == 201 and resp.json()[field] == top, resp.text
    try:
        for over in (top + 1, INT64_MAX + 1):
            refused(await admin.patch(f"/channels/{name}", json={field: over}), 422, field)
        resp = await admin.patch(f"/channels/{name}", json={field: bottom})
        assert resp.status_code == 200 and resp.json()[field] == bottom, resp.text
    finally:
        assert (await admin.delete(f"/channels/{name}")).status_code == 204


# -- text the store cannot hold ----------------------------------------------------------------
# PostgreSQL refuses U+0000 in text, and neither store encodes a lone surrogate: both were a
# 500 from the driver (schemathesis found `POST /admin/v1/accounts {"name": "\udb49...\x00"}`).


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("api", "/v1/tasks/a%00b"),
        ("api", "/v1/tasks?model=a%00b"),
        ("api", "/v1/tasks/a%00b/deliveries"),
        ("api", "/minimaxi/v1/query/video_generation?task_id=a%00b"),
        ("api", "/minimaxi/v1/files/retrieve?file_id=%00"),
        ("admin", "/admin/v1/channels/a%00b"),
        ("admin", "/admin/v1/usage?model=%00"),
    ],
)
async def test_a_nul_in_the_url_is_refused(
    api: httpx.AsyncClient, admin: httpx.AsyncClient, who: str, path: str
) -> None:
    http = api if who == "api" else admin
    resp = await http.get(path.removeprefix("/admin/v1") if who == "admin" else path)
    if path.startswith("/minimaxi/"):  # MiniMax's way: HTTP 200 and a code
        assert resp.status_code == 200, resp.text
        assert resp.json()["base_resp"]["status_code"] == 2013, resp.text
        assert "NUL" in resp.json()["base_resp"]["status_msg"]
    else:
        refused(resp, 400, "NUL")
    # the same route with a harmless character answers as before
    plain = path.replace("%00", "-")
    resp = await http.get(plain.removeprefix("/admin/v1") if who == "admin" else plain)
    assert resp.status_code < 500 and "NUL" not in resp.text, resp.text


NUL = "a\x00b"
SURROGATE = "a\udb49b"
ADMIN_TEXTS: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/accounts", {"name": "{t}"}, "name"),
    ("POST", "/accounts/1/topup", {"amount": 1, "note": "{t}"}, "note"),
    ("POST", "/accounts/1/keys", {"name": "{t}"}, "name"),
    ("POST", "/accounts/1/keys", {"name": "k", "models": ["{t}"]}, "models"),
    ("POST", "/channels", {"name": "{t}", "base_url": "https://u.invalid", "api_key": "k"}, "name"),
    ("POST", "/channels", {"name": "c", "base_url": "https://u.invalid", "api_key": "{t}"}, "key"),
    ("PATCH", "/channels/sandbox", {"api_key": "{t}"}, "api_key"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), ADMIN_TEXTS)
async def test_body_text_the_store_cannot_hold_is_refused(
    admin: httpx.AsyncClient, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    for text, why in ((NUL, "NUL"), (SURROGATE, "unicode")):
        raw = json.dumps(body).replace("{t}", json.dumps(text)[1:-1])  # \u0000, \udb49
        resp = await admin.request(
            method, path, content=raw, headers={"content-type": "application/json"}
        )
        refused(resp, 422, field, why)
