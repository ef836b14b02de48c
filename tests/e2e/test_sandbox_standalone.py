"""`reelgate sandbox` on its own: a plain MiniMax client flow, its keys, and every fault
kind as a client sees it over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import MiniMax, Server

KEY, OTHER = "sandbox-key", "second-key"
T2V = {"model": "T2V-01", "prompt": "a red balloon over rooftops [Pedestal up]"}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "REELGATE_SANDBOX_API_KEYS": json.dumps([KEY, OTHER]),
        "REELGATE_SANDBOX_TIMINGS": "0.2,0.3,1.0",
        "REELGATE_SANDBOX_RPM": "0",
    }
    srv = Server(tmp_path_factory.mktemp("sandbox"), "unused", command="sandbox", env=env)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def client(sandbox: Server) -> Iterator[MiniMax]:
    with MiniMax(sandbox.url, KEY) as c:
        yield c


@pytest.fixture
def faults(sandbox: Server, client: MiniMax) -> Iterator[Any]:
    """Set a fault plan for one test; everything is off again afterwards."""

    def put(spec: str, **extra: Any) -> dict[str, Any]:
        resp = client.http.put("/_control/faults", json={"faults": spec, **extra})
        assert resp.json()["base_resp"]["status_code"] == 0, resp.text
        return resp.json()  # type: ignore[no-any-return]

    yield put
    put("", seed=0, slow_s=2.0, hang_s=60.0)


def requests_since(client: MiniMax, t: float) -> list[dict[str, Any]]:
    return client.http.get("/_control/requests", params={"since": t}).json()  # type: ignore[no-any-return]


def test_a_plain_minimax_client_flow(sandbox: Server) -> None:
    for base in (sandbox.url, sandbox.url + "/sandbox"):  # standalone answers at both
        with MiniMax(base, KEY) as client:
            created = client.create(T2V)
            assert created["base_resp"] == {"status_code": 0, "status_msg": "success"}
            done = client.wait(created["task_id"], timeout=30)
            assert done["status"] == "Success" and (done["video_width"], done["video_height"]) == (
                1280,
                720,
            )
            file = client.retrieve(done["file_id"])["file"]
            assert file["download_url"].startswith(base + "/v1/files/download/")
            plain = httpx.get(file["download_url"], timeout=30, trust_env=False)
            assert plain.status_code == 200 and plain.headers["content-type"] == "video/mp4"
            content = client.http.get(
                "/v1/files/retrieve_content", params={"file_id": done["file_id"]}
            )
            assert content.content == plain.content and len(plain.content) == file["bytes"]


def test_keys_come_from_the_settings_and_are_separate_accounts(client: MiniMax) -> None:
    created = client.create(T2V)
    with MiniMax(client.http.base_url.__str__(), OTHER) as other:
        assert other.query(created["task_id"])["base_resp"]["status_code"] == 2013
        assert other.create(T2V)["base_resp"]["status_code"] == 0
    with MiniMax(str(client.http.base_url), "sk-nobody") as nobody:
        assert nobody.create(T2V)["base_resp"] == {
            "status_code": 2049,
            "status_msg": "invalid api key",
        }


@pytest.mark.parametrize(
    ("code", "message"),
    [(1002, "rate limit exceeded(RPM)"), (1000, "unknown error"), (1026, "input new_sensitive")],
)
def test_refusals(client: MiniMax, faults: Any, code: int, message: str) -> None:
    faults(f"refuse_{code}=1")
    answer = client.create(T2V)
    assert answer == {"base_resp": {"status_code": code, "status_msg": message}}
    faults("")
    assert client.create(T2V)["base_resp"]["status_code"] == 0


def test_http_5xx(client: MiniMax, faults: Any) -> None:
    task_id = client.create(T2V)["task_id"]
    faults("http_500=1", seed=1)
    seen = []
    for i in range(9):
        resp = (
            client.http.post("/v1/video_generation", json=T2V)
            if i % 2
            else client.http.get("/v1/query/video_generation", params={"task_id": task_id})
        )
        seen.append((resp.status_code, resp.headers["content-type"].split(";")[0]))
    assert {status for status, _ in seen} <= {500, 502, 503}
    assert len(set(seen)) > 1 and (
        "text/html" in dict(seen).values() or "text/plain" in dict(seen).values()
    )


def test_slow(client: MiniMax, faults: Any) -> None:
    faults("slow=1", slow_s=0.6)
    started = time.monotonic()
    assert client.create(T2V)["base_resp"]["status_code"] == 0
    assert time.monotonic() - started >= 0.6


def test_timeout_hangs_until_the_client_gives_up(client: MiniMax, faults: Any) -> None:
    faults("timeout=1", hang_s=30)
    t0 = time.time()
    with pytest.raises(httpx.ReadTimeout):
        client.http.post("/v1/video_generation", json=T2V, timeout=0.5)
    faults("")
    deadline = time.monotonic() + 5
    while not (log := [e for e in requests_since(client, t0) if e["endpoint"] == "create"]):
        assert time.monotonic() < deadline, "the hung call never ended"
        time.sleep(0.1)
    assert log[0]["faults"] == ["timeout"] and log[0]["http_status"] == 504
    assert log[0]["duration_s"] < 5  # it noticed the client leave, it did not sit out 30 s
    assert log[0]["task_id"] is None  # a hung create makes no task


def test_fail_midway(client: MiniMax, faults: Any) -> None:
    faults("fail_midway=1")
    task_id = client.create(T2V)["task_id"]
    seen = []
    deadline = time.monotonic() + 10
    while (answer := client.query(task_id))["status"] != "Fail":
        seen.append(answer["status"])
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "Processing" in seen and answer["file_id"] == ""
    assert answer["base_resp"] == {"status_code": 1027, "status_msg": "output new_sensitive"}


def test_forget(client: MiniMax, faults: Any) -> None:
    t0 = time.time()
    faults("forget=1")
    task_id = client.create(T2V)["task_id"]
    assert client.query(task_id)["status"] in ("Preparing", "Queueing")
    time.sleep(0.6)  # it vanishes when it would start Processing (0.5 s here)
    for _ in range(3):
        assert client.query(task_id) == {
            "base_resp": {"status_code": 2013, "status_msg": "invalid params, task not found"}
        }
    forgotten = [e for e in requests_since(client, t0) if e["endpoint"] == "query"]
    assert [e["faults"] for e in forgotten] == [[], ["forget"], ["forget"], ["forget"]]


def test_download_404_once(client: MiniMax, faults: Any) -> None:
    faults("download_404=1")
    done = client.wait(client.create(T2V)["task_id"], timeout=30)
    url = client.retrieve(done["file_id"])["file"]["download_url"]
    assert httpx.get(url, trust_env=False).status_code == 404
    assert httpx.get(url, trust_env=False).status_code == 200


def _replay(client: MiniMax, faults: Any, seed: int) -> list[tuple[Any, ...]]:
    spec = (
        "refuse_1002=0.1,refuse_1000=0.05,refuse_1026=0.05,http_500=0.1,slow=0.1,"
        "timeout=0.05,fail_midway=0.1,forget=0.05,download_404=0.1"
    )
    faults(spec, seed=seed, slow_s=0.05, hang_s=0.1)
    t0 = time.time()
    for _ in range(25):
        resp = client.http.post("/v1/video_generation", json=T2V)
        task_id = resp.json().get("task_id") if resp.status_code == 200 else None
        if task_id:
            client.http.get("/v1/query/video_generation", params={"task_id": task_id})
    return [
        (e["endpoint"], e["http_status"], e["code"], tuple(e["faults"]))
        for e in requests_since(client, t0)
    ]


def test_same_seed_same_requests_same_faults(client: MiniMax, faults: Any) -> None:
    first = _replay(client, faults, seed=11)
    kinds = {f for *_, fs in first for f in fs}
    assert len(kinds) >= 5, kinds
    assert _replay(client, faults, seed=11) == first
    assert _replay(client, faults, seed=12) != first
