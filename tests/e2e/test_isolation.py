"""One account can never see or touch another's tasks and files.

Every endpoint that takes an id is probed with another account's ids: the answer must be
exactly the one for an id that does not exist (same status, same body but for the
request id), so a probe cannot even learn that the id is real.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from reelgate.domain.ids import new_platform_id
from tests.e2e.operator import T2V, Operator
from tests.support import Server


@dataclass(frozen=True)
class Tenant:
    key: str
    task_id: str  # the upstream's id
    platform_id: str
    file_id: str
    download_url: str

    def http(self, server: Server) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.Client(base_url=server.url, headers=headers, timeout=30, trust_env=False)


def finished_task(server: Server, key: str) -> Tenant:
    """A new succeeded task of the key's account, with its file and signed URL."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(
        base_url=server.url + "/minimaxi/v1", headers=headers, timeout=30, trust_env=False
    ) as mm:
        made = mm.post("/video_generation", json=T2V).json()
        assert made["base_resp"]["status_code"] == 0, made
        deadline = time.monotonic() + 90
        while True:
            done = mm.get("/query/video_generation", params={"task_id": made["task_id"]}).json()
            if done["status"] in ("Success", "Fail") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert done["status"] == "Success", done
        file = mm.get("/files/retrieve", params={"file_id": done["file_id"]}).json()["file"]
    return Tenant(key, made["task_id"], made["platform_id"], done["file_id"], file["download_url"])


@pytest.fixture(scope="module")
def tenants(server: Server) -> tuple[Tenant, Tenant]:
    """Two accounts, each with its own key and one finished task."""
    with Operator(server) as op:
        keys = [op.client()[1]["key"] for _ in range(2)]
    return finished_task(server, keys[0]), finished_task(server, keys[1])


@pytest.fixture
def mine(server: Server, tenants: tuple[Tenant, Tenant]) -> Iterator[httpx.Client]:
    """The first account's client: it probes the second account's ids."""
    with tenants[0].http(server) as client:
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


def probe(client: httpx.Client, method: str, path: str, param: str | None, value: str) -> Any:
    if param is None:
        return answer(client.request(method, path.format(id=value)))
    return answer(client.request(method, path, params={param: value}))


@pytest.mark.parametrize(
    ("name", "method", "path", "param", "which"), PROBES, ids=[p[0] for p in PROBES]
)
def test_a_foreign_id_reads_as_missing(
    server: Server,
    tenants: tuple[Tenant, Tenant],
    mine: httpx.Client,
    name: str,
    method: str,
    path: str,
    param: str | None,
    which: str,
) -> None:
    theirs = getattr(tenants[1], which)
    foreign = probe(mine, method, path, param, theirs)
    missing = probe(mine, method, path, param, MISSING[which])
    assert foreign == missing
    status, body = missing  # and that answer is "not found", not some other refusal
    assert status == 404 or (status == 200 and body["base_resp"]["status_code"] == 2013), missing
    # and the same request with the owner's key does find it (the probe was a real id)
    with tenants[1].http(server) as owner:
        if method == "GET":
            assert probe(owner, method, path, param, theirs)[0] == 200
    # the owner's task is untouched by the probe (a foreign cancel cancelled nothing)
    with tenants[1].http(server) as owner:
        task = owner.get(f"/v1/tasks/{tenants[1].platform_id}").json()
    assert task["status"] == "succeeded"


def test_lists_hold_only_own_tasks(server: Server, tenants: tuple[Tenant, Tenant]) -> None:
    for me, other in (tenants, tenants[::-1]):
        with me.http(server) as client:
            listed = client.get("/v1/tasks", params={"limit": 200}).json()
        ids = {t["platform_id"] for t in listed["data"]}
        assert me.platform_id in ids and other.platform_id not in ids


def test_signed_urls_are_bound_to_their_task(tenants: tuple[Tenant, Tenant]) -> None:
    mine, theirs = tenants
    # the signed URL works on its own, with no Authorization header
    with httpx.Client(timeout=30, trust_env=False) as plain:
        assert plain.get(theirs.download_url).status_code == 200
        # the same signature with another task's platform_id in the path opens nothing
        swapped = theirs.download_url.replace(theirs.platform_id, mine.platform_id)
        assert swapped != theirs.download_url
        resp = plain.get(swapped)
        assert resp.status_code == 404
        assert resp.content == plain.get(swapped.replace("sig=", "sig=0")).content
