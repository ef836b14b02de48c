"""The gateway's MiniMax v2 surface (``/minimaxi/v2``) in process, on the fake upstream:
create, query by either id, the list, DELETE in each status, v2's error envelope, v1 and
v2 kept apart, and one account's v1 and v2 tasks side by side in ``/v1/tasks``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.inprocess.harness import InProcess, in_process
from tests.inprocess.operator import T2V, Operator
from tests.support import fresh_database

pytestmark = pytest.mark.asyncio(loop_scope="module")

# These tests price H3 per duration (the table also takes per-second prices: tested in
# test_billing_by_second.py), so that what they check is the surface alone.
PRICES = """\
currency = "USD"
[models."T2V-01"]
"720P-6s" = 43
[models."MiniMax-H3"]
"768P-4s" = 32
"768P-6s" = 48
"2K-6s" = 78
"""
H3_PRICE = 48
TEXT = {"type": "text", "text": "a red kite over a windy beach"}


def h3(**fields: Any) -> dict[str, Any]:
    return {"model": "MiniMax-H3", "duration": 6, "ratio": "16:9", "content": [TEXT], **fields}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcess]:
    data_dir: Path = tmp_path_factory.mktemp("v2")
    prices = data_dir / "prices.toml"
    prices.write_text(PRICES)
    with fresh_database(data_dir) as url:
        async with in_process(data_dir, url, prices_file=prices) as gw:
            yield gw


@pytest_asyncio.fixture(loop_scope="module")
async def tenant(gateway: InProcess) -> AsyncIterator[tuple[httpx.AsyncClient, int]]:
    """A fresh account with credit, and a client of its key."""
    async with Operator(gateway) as op:
        account = await op.account(credit=10_000)
        key = (await op.key(account["id"]))["key"]
    async with gateway.client(key) as client:
        yield client, account["id"]


async def balance(gateway: InProcess, account_id: int) -> int:
    async with gateway.admin() as admin:
        return int((await admin.get(f"/accounts/{account_id}")).json()["balance"])


async def create(client: httpx.AsyncClient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = await client.post("/minimaxi/v2/video_generation", json=body or h3())
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    assert set(out) == {"task_id", "platform_id"}
    return out


async def task_of(client: httpx.AsyncClient, any_id: str) -> dict[str, Any]:
    resp = await client.get(f"/minimaxi/v2/query/video_generation/{any_id}")
    assert resp.status_code == 200, resp.text
    task: dict[str, Any] = resp.json()["task"]
    return task


def refused(resp: httpx.Response, status: int, code: int) -> str:
    """MiniMax v2's error envelope; its message without the code."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"type", "error", "request_id"} and body["type"] == "error"
    assert body["error"]["http_code"] == str(status)
    message: str = body["error"]["message"]
    assert message.endswith(f" ({code})"), message
    return message.removesuffix(f" ({code})")


async def test_create_query_by_either_id_and_the_video(
    gateway: InProcess, tenant: tuple[httpx.AsyncClient, int]
) -> None:
    client, account = tenant
    made = await create(client)
    assert await balance(gateway, account) == 10_000 - H3_PRICE
    by_upstream, by_platform = (
        await task_of(client, made["task_id"]),
        await task_of(client, made["platform_id"]),
    )
    assert by_upstream == by_platform
    assert (by_upstream["id"], by_upstream["platform_id"]) == (made["task_id"], made["platform_id"])
    assert (by_upstream["status"], by_upstream["usage"], by_upstream["ratio"]) == (
        "queued",
        {},
        "16:9",
    )
    assert (by_upstream["model"], by_upstream["resolution"], by_upstream["duration"]) == (
        "MiniMax-H3",
        "768P",
        6,
    )
    assert "content" not in by_upstream and "error" not in by_upstream
    await gateway.finish(made["task_id"])
    done = await task_of(client, made["task_id"])
    assert done["status"] == "succeeded"
    assert done["usage"]["output_seconds"] == 6
    url = done["content"]["url"]
    assert url.startswith("http") and "/files/" in url
    async with gateway.client(None) as anonymous:  # a signed URL needs no key
        video = await anonymous.get(url.removeprefix(gateway.gw.settings.base_url))
    assert video.status_code == 200 and video.content == gateway.upstream.video_bytes


async def test_errors_read_in_v2s_envelope_and_leave_nothing(
    gateway: InProcess, tenant: tuple[httpx.AsyncClient, int]
) -> None:
    client, account = tenant
    before_tasks, before_balance = await gateway.count_tasks(), await balance(gateway, account)
    no_ratio = await client.post("/minimaxi/v2/video_generation", json=h3(ratio=None))
    assert "other than adaptive" in refused(no_ratio, 400, 2013)
    v1_model = await client.post("/minimaxi/v2/video_generation", json=h3(model="T2V-01"))
    assert "v1 API" in refused(v1_model, 400, 2013)
    async with gateway.client("sk-not-a-key") as stranger:
        bad_key = await stranger.post("/minimaxi/v2/video_generation", json=h3())
    assert refused(bad_key, 401, 1004).startswith("login fail")
    unknown = await client.get("/minimaxi/v2/query/video_generation/424010985738629")
    assert refused(unknown, 400, 2013) == "invalid task_id"
    assert await gateway.count_tasks() == before_tasks
    assert await balance(gateway, account) == before_balance


async def test_v1_and_v2_keep_their_tasks_apart(
    gateway: InProcess, tenant: tuple[httpx.AsyncClient, int]
) -> None:
    client, _ = tenant
    v2 = await create(client)
    v1 = (await client.post("/minimaxi/v1/video_generation", json=T2V)).json()
    assert v1["base_resp"]["status_code"] == 0
    seen_by_v1 = await client.get(
        "/minimaxi/v1/query/video_generation", params={"task_id": v2["task_id"]}
    )
    assert seen_by_v1.json()["base_resp"]["status_code"] == 2013
    seen_by_v2 = await client.get(f"/minimaxi/v2/query/video_generation/{v1['task_id']}")
    assert refused(seen_by_v2, 400, 2013) == "invalid task_id"
    # one task, every way to reach it: the platform API lists both and streams the
    # events of each (a finished task's stream ends at its last event)
    listed = (await client.get("/v1/tasks")).json()["data"]
    assert {v1["platform_id"], v2["platform_id"]} <= {t["platform_id"] for t in listed}
    await gateway.finish(v1["task_id"], v2["task_id"])
    for made in (v1, v2):
        stream = await client.get(f"/v1/tasks/{made['platform_id']}/events")
        assert stream.status_code == 200
        data = [
            json.loads(line[5:]) for line in stream.text.splitlines() if line.startswith("data:")
        ]
        assert [(e["platform_id"], e["status"]) for e in data] == [
            (made["platform_id"], "queued"),
            (made["platform_id"], "succeeded"),
        ], stream.text


async def test_the_list_pages_filters_and_shows_only_the_callers_v2_tasks(
    gateway: InProcess, tenant: tuple[httpx.AsyncClient, int]
) -> None:
    client, _ = tenant
    made = [await create(client) for _ in range(5)]
    await client.post("/minimaxi/v1/video_generation", json=T2V)  # a v1 task: not listed
    await gateway.finish(made[0]["task_id"])
    async with Operator(gateway) as op:
        other_key = (await op.client())[1]["key"]
    async with gateway.client(other_key) as other:
        await create(other)
    page1 = (
        await client.get("/minimaxi/v2/query/video_generation", params={"page_size": 2})
    ).json()
    page3 = (
        await client.get(
            "/minimaxi/v2/query/video_generation", params={"page_size": 2, "page_num": 3}
        )
    ).json()
    everything = (
        await client.get("/minimaxi/v2/query/video_generation", params={"page_size": 100})
    ).json()
    ids = [t["id"] for t in everything["items"]]
    assert everything["total"] == len(ids) and len(ids) >= 5
    assert ids[:5] == [m["task_id"] for m in reversed(made)]  # newest first
    assert [t["id"] for t in page1["items"]] == ids[:2] and page1["total"] == everything["total"]
    assert [t["id"] for t in page3["items"]] == ids[4:6]
    succeeded = (
        await client.get(
            "/minimaxi/v2/query/video_generation", params={"filter.status": "succeeded"}
        )
    ).json()
    assert [t["id"] for t in succeeded["items"]] == [made[0]["task_id"]]
    chosen = (
        await client.get(
            "/minimaxi/v2/query/video_generation",
            params=[
                ("filter.task_ids", made[1]["task_id"]),
                ("filter.task_ids", made[2]["platform_id"]),
            ],
        )
    ).json()
    assert sorted(t["id"] for t in chosen["items"]) == sorted(
        [made[1]["task_id"], made[2]["task_id"]]
    )
    for params, code in (({"page_size": 101}, 2013), ({"page_num": 0}, 2013)):
        refused(await client.get("/minimaxi/v2/query/video_generation", params=params), 400, code)
    at_limit = await client.get("/minimaxi/v2/query/video_generation", params={"page_size": 100})
    assert at_limit.status_code == 200


async def test_delete_in_each_status(
    gateway: InProcess, tenant: tuple[httpx.AsyncClient, int]
) -> None:
    client, account = tenant
    start = await balance(gateway, account)
    queued = await create(client)
    gone = await client.delete(f"/minimaxi/v2/video_generation/{queued['task_id']}")
    assert gone.json() == {
        "task_id": queued["task_id"],
        "action": "cancelled",
        "status": "cancelled",
    }
    assert (await task_of(client, queued["task_id"]))["status"] == "cancelled"
    assert await balance(gateway, account) == start  # refunded in full
    again = await client.delete(f"/minimaxi/v2/video_generation/{queued['task_id']}")
    refused(again, 400, 2013)

    running = await create(client)
    gateway.upstream.start(running["task_id"])
    await gateway.track()
    refused(await client.delete(f"/minimaxi/v2/video_generation/{running['task_id']}"), 400, 2013)
    assert (await task_of(client, running["task_id"]))["status"] == "running"

    done = await create(client)
    await gateway.finish(done["task_id"])
    deleted = await client.delete(f"/minimaxi/v2/video_generation/{done['platform_id']}")
    assert deleted.json() == {"task_id": done["task_id"], "action": "deleted", "status": "deleted"}
    gone_query = await client.get(f"/minimaxi/v2/query/video_generation/{done['task_id']}")
    assert refused(gone_query, 400, 2013) == "invalid task_id"

    failed = await create(client)
    gateway.upstream.fail(failed["task_id"], 1026, "video description contains sensitive content")
    await gateway.track()
    shown = await task_of(client, failed["task_id"])
    assert shown["error"] == {
        "code": "1026",
        "message": "video description contains sensitive content",
    }
    assert (await client.delete(f"/minimaxi/v2/video_generation/{failed['task_id']}")).json()[
        "action"
    ] == "deleted"


async def test_a_delete_never_cancels_what_the_upstream_has_finished(
    gateway: InProcess, tenant: tuple[httpx.AsyncClient, int]
) -> None:
    """The gateway's view lags its upstream's: a task it still shows queued may have
    finished there, and MiniMax's DELETE of a finished task deletes its video. The
    upstream is asked first; the DELETE is refused and never sent."""
    client, _ = tenant
    made = await create(client)
    gateway.upstream.succeed(made["task_id"])  # upstream done; the gateway has not polled
    assert (await task_of(client, made["task_id"]))["status"] == "queued"
    cancels = len(gateway.upstream.called("cancel"))
    refusal = await client.delete(f"/minimaxi/v2/video_generation/{made['task_id']}")
    assert "has started" in refused(refusal, 400, 2013)
    assert len(gateway.upstream.called("cancel")) == cancels  # no DELETE went upstream
    await gateway.track()
    assert (await task_of(client, made["task_id"]))["status"] == "succeeded"
