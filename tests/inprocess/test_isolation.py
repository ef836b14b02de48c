"""One account can never see or touch another's tasks and files.

Every endpoint that takes an id is probed with another account's ids: the answer must be
exactly the one for an id that does not exist (same status, same body but for the
request id), so a probe cannot even learn that the id is real. In process: the tasks
finish on the fake upstream's cue, their videos copied into the gateway's storage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio

from reelgate.domain.ids import new_platform_id
from tests.inprocess.harness import InProcess
from tests.inprocess.operator import T2V, Operator

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass(frozen=True)
class Tenant:
    key: str
    task_id: str  # the upstream's id
    platform_id: str
    file_id: str
    download_url: str

    def http(self, gateway: InProcess) -> httpx.AsyncClient:
        return gateway.client(self.key)


async def finished_task(gateway: InProcess, key: str) -> Tenant:
    """A new succeeded task of the key's account, with its file and signed URL."""
    async with gateway.client(key, "/minimaxi/v1") as mm:
        made = (await mm.post("/video_generation", json=T2V)).json()
        assert made["base_resp"]["status_code"] == 0, made
        await gateway.finish(made["task_id"])
        query = {"task_id": made["task_id"]}
        done = (await mm.get("/query/video_generation", params=query)).json()
        assert done["status"] == "Success", done
        file = (await mm.get("/files/retrieve", params={"file_id": done["file_id"]})).json()
    return Tenant(
        key, made["task_id"], made["platform_id"], done["file_id"], file["file"]["download_url"]
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tenants(gateway: InProcess) -> tuple[Tenant, Tenant]:
    """Two accounts, each with its own key and one finished task."""
    async with Operator(gateway) as op:
        keys = [(await op.client())[1]["key"] for _ in range(2)]
    return await finished_task(gateway, keys[0]), await finished_task(gateway, keys[1])


@pytest_asyncio.fixture(loop_scope="module")
async def mine(
    gateway: InProcess, tenants: tuple[Tenant, Tenant]
) -> AsyncIterator[httpx.AsyncClient]:
    """The first account's client: it probes the second account's ids."""
    async with tenants[0].http(gateway) as client:
        yield client


def answer(resp: httpx.Response) -> tuple[int, Any]:
    """Status and body, without what differs between any two requests."""
    try:
        body = resp.json()
    except ValueError:
        body = resp.text
    if isinstance(body, dict):
        body.pop("request_id", None)
    return resp.status_code, body


MISSING = {
    "task_id": "399999999999999999",
    "platform_id": new_platform_id(),
    "file_id": "399999999999999999",
}

# (name, method, path with {id}, how the id is passed, which of the other's ids)
QUERY = "/minimaxi/v1/query/video_generation"
PROBES = [
    ("query by task_id", "GET", QUERY, "task_id", "task_id"),
    ("query by platform_id", "GET", QUERY, "task_id", "platform_id"),
    ("files/retrieve", "GET", "/minimaxi/v1/files/retrieve", "file_id", "file_id"),
    ("retrieve_content", "GET", "/minimaxi/v1/files/retrieve_content", "file_id", "file_id"),
    ("get by task_id", "GET", "/v1/tasks/{id}", None, "task_id"),
    ("get by platform_id", "GET", "/v1/tasks/{id}", None, "platform_id"),
    ("cancel by task_id", "POST", "/v1/tasks/{id}/cancel", None, "task_id"),
    ("cancel by platform_id", "POST", "/v1/tasks/{id}/cancel", None, "platform_id"),
    ("events by task_id", "GET", "/v1/tasks/{id}/events", None, "task_id"),
    ("events by platform_id", "GET", "/v1/tasks/{id}/events", None, "platform_id"),
]


async def probe(
    client: httpx.AsyncClient, method: str, path: str, param: str | None, value: str
) -> Any:
    if param is None:
        return answer(await client.request(method, path.format(id=value)))
    return answer(await client.request(method, path, params={param: value}))


@pytest.mark.parametrize(
    ("name", "method", "path", "param", "which"), PROBES, ids=[p[0] for p in PROBES]
)
async def test_a_foreign_id_reads_as_missing(
    gateway: InProcess,
    tenants: tuple[Tenant, Tenant],
    mine: httpx.AsyncClient,
    name: str,
    method: str,
    path: str,
    param: str | None,
    which: str,
) -> None:
    theirs = getattr(tenants[1], which)
    foreign = await probe(mine, method, path, param, theirs)
    missing = await probe(mine, method, path, param, MISSING[which])
    assert foreign == missing
    status, body = missing  # and that answer is "not found", not some other refusal
    assert status == 404 or (status == 200 and body["base_resp"]["status_code"] == 2013), missing
    # and the same request with the owner's key does find it (the probe was a real id)
    async with tenants[1].http(gateway) as owner:
        if method == "GET":
            assert (await probe(owner, method, path, param, theirs))[0] == 200
    # the owner's task is untouched by the probe (a foreign cancel cancelled nothing)
    async with tenants[1].http(gateway) as owner:
        task = (await owner.get(f"/v1/tasks/{tenants[1].platform_id}")).json()
    assert task["status"] == "succeeded"


async def test_lists_hold_only_own_tasks(
    gateway: InProcess, tenants: tuple[Tenant, Tenant]
) -> None:
    for me, other in (tenants, tenants[::-1]):
        async with me.http(gateway) as client:
            listed = (await client.get("/v1/tasks", params={"limit": 200})).json()
        ids = {t["platform_id"] for t in listed["data"]}
        assert me.platform_id in ids and other.platform_id not in ids


async def test_signed_urls_are_bound_to_their_task(
    gateway: InProcess, tenants: tuple[Tenant, Tenant]
) -> None:
    mine, theirs = tenants
    # the signed URL works on its own, with no Authorization header
    async with gateway.client(None) as plain:
        assert (await plain.get(theirs.download_url)).status_code == 200
        # the same signature with another task's platform_id in the path opens nothing
        swapped = theirs.download_url.replace(theirs.platform_id, mine.platform_id)
        assert swapped != theirs.download_url
        resp = await plain.get(swapped)
        assert resp.status_code == 404
        assert resp.content == (await plain.get(swapped.replace("sig=", "sig=0"))).content
