"""The MiniMax-compatible surface's answers, in process on the fake upstream (moved from
``tests/e2e/test_minimax_api.py``; real renders, signed downloads over real HTTP and the
mounted sandbox's key stay there)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.inprocess.harness import InProcess
from tests.support import data_url, image_bytes

pytestmark = pytest.mark.asyncio(loop_scope="module")

LANDSCAPE = data_url(image_bytes(640, 400, seed=1))
LAST = data_url(image_bytes(640, 400, seed=2))


@pytest_asyncio.fixture(loop_scope="module")
async def minimax(gateway: InProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway.client(path="/minimaxi") as c:
        yield c


async def create(minimax: httpx.AsyncClient, body: dict[str, Any]) -> Any:
    data = (await minimax.post("/v1/video_generation", json=body)).json()
    assert data["base_resp"]["status_code"] == 0, data
    return data


async def query(minimax: httpx.AsyncClient, task_id: str) -> Any:
    return (await minimax.get("/v1/query/video_generation", params={"task_id": task_id})).json()


async def test_query_answers_the_same_for_either_id(
    gateway: InProcess, minimax: httpx.AsyncClient
) -> None:
    created = await create(minimax, {"model": "T2V-01", "prompt": "rain on a window"})
    by_task = await query(minimax, created["task_id"])
    by_platform = await query(minimax, created["platform_id"])
    assert by_task == by_platform
    assert by_task["status"] in ("Preparing", "Queueing", "Processing", "Success")
    await gateway.finish(created["task_id"])
    done = await query(minimax, created["platform_id"])
    assert done["status"] == "Success"  # what waiting for it ended on
    assert done == await query(minimax, created["task_id"])
    assert done["task_id"] == created["task_id"]


def _error(resp: httpx.Response) -> tuple[int, str]:
    assert resp.status_code == 200, resp.text  # MiniMax carries errors in base_resp
    assert resp.headers.get("trace-id")
    base = resp.json()["base_resp"]
    return base["status_code"], base["status_msg"]


BAD_CREATES: list[tuple[str, Any, int, str]] = [
    ("unknown model", {"model": "Sora-2", "prompt": "x"}, 2013, "unknown model"),
    (
        "duration not allowed",
        {"model": "MiniMax-Hailuo-2.3", "prompt": "x", "duration": 10, "resolution": "1080P"},
        2013,
        "allows duration 6",
    ),
    (
        "resolution not allowed",
        {"model": "MiniMax-Hailuo-2.3", "prompt": "x", "resolution": "720P"},
        2013,
        "allowed: 768P, 1080P",
    ),
    (
        "last frame on 2.3",
        {"model": "MiniMax-Hailuo-2.3", "first_frame_image": LANDSCAPE, "last_frame_image": LAST},
        2013,
        "does not accept last_frame_image",
    ),
    (
        "text only on 2.3-Fast",
        {"model": "MiniMax-Hailuo-2.3-Fast", "prompt": "x"},
        2013,
        "does not support text to video",
    ),
    (
        "no first frame on I2V-01",
        {"model": "I2V-01", "prompt": "x"},
        2013,
        "send first_frame_image",
    ),
    (
        "prompt too long",
        {"model": "MiniMax-Hailuo-2.3", "prompt": "x" * 2001},
        2013,
        "the limit is 2000",
    ),
    (
        "not an image",
        {"model": "I2V-01", "first_frame_image": data_url(b"GIF89a nope")},
        2013,
        "not a decodable image",
    ),
    (
        "too small",
        {"model": "I2V-01", "first_frame_image": data_url(image_bytes(250, 400))},
        2013,
        "short side must be over 300 px",
    ),
    (
        "bad aspect",
        {"model": "I2V-01", "first_frame_image": data_url(image_bytes(1600, 310))},
        2013,
        "aspect ratio",
    ),
    (
        "bad base64",
        {"model": "I2V-01", "first_frame_image": "data:image/png;base64,@@@"},
        2013,
        "not valid base64",
    ),
]


@pytest.mark.parametrize(
    ("name", "body", "code", "fragment"), BAD_CREATES, ids=[b[0] for b in BAD_CREATES]
)
async def test_bad_creates_are_refused_and_leave_nothing(
    gateway: InProcess, minimax: httpx.AsyncClient, name: str, body: Any, code: int, fragment: str
) -> None:
    before = await gateway.count_tasks()
    resp = await minimax.post("/v1/video_generation", json=body)
    assert _error(resp)[0] == code
    assert fragment in _error(resp)[1]
    assert await gateway.count_tasks() == before


async def test_malformed_json(gateway: InProcess, minimax: httpx.AsyncClient) -> None:
    before = await gateway.count_tasks()
    resp = await minimax.post(
        "/v1/video_generation",
        content=b'{"model": "T2V-01", "prompt": ',
        headers={"Content-Type": "application/json"},
    )
    code, message = _error(resp)
    assert code == 2013 and "not valid JSON" in message
    assert await gateway.count_tasks() == before


@pytest.mark.parametrize(
    ("headers", "code", "fragment"),
    [
        ({}, 1004, "Authorization: Bearer"),
        # 2049 on create only, as MiniMax (issue 14): query and files answer 1004
        ({"Authorization": "Bearer sk-wrong"}, 2049, "invalid api key"),
        ({"Authorization": "Basic abc"}, 1004, "Authorization: Bearer"),
    ],
)
async def test_auth_is_required_everywhere(
    gateway: InProcess, headers: dict[str, str], code: int, fragment: str
) -> None:
    async with gateway.client(None, "/minimaxi/v1") as http:
        for method, path in [
            ("POST", "/video_generation"),
            ("GET", "/query/video_generation?task_id=1"),
            ("GET", "/files/retrieve?file_id=1"),
            ("GET", "/files/retrieve_content?file_id=1"),
        ]:
            resp = await http.request(method, path, headers=headers, json={})
            got_code, message = _error(resp)
            expected = 1004 if code == 2049 and method == "GET" else code
            assert got_code == expected and fragment in message, (path, message)


async def test_unknown_ids(minimax: httpx.AsyncClient) -> None:
    for path, params, fragment in [
        ("/v1/query/video_generation", {"task_id": "123456789"}, "task not found"),
        (
            "/v1/query/video_generation",
            {"task_id": "video_01JSGXXXXXXXXXXXXXXXXXXXXX"},
            "task not found",
        ),
        ("/v1/query/video_generation", {}, "task_id is required"),  # issue 13: not "not found"
        ("/v1/files/retrieve", {"file_id": "987654321"}, "file not found"),
        ("/v1/files/retrieve_content", {"file_id": "987654321"}, "file not found"),
    ]:
        code, message = _error(await minimax.get(path, params=params))
        assert code == 2013 and fragment in message


async def test_unknown_query_params_are_ignored(minimax: httpx.AsyncClient) -> None:
    created = await create(minimax, {"model": "T2V-01", "prompt": "waves"})
    resp = await minimax.get(
        "/v1/query/video_generation", params={"task_id": created["task_id"], "GroupId": "1"}
    )
    assert resp.json()["task_id"] == created["task_id"]


async def test_openapi_documents_the_surface(gateway: InProcess) -> None:
    async with gateway.client(None) as http:
        spec = (await http.get("/openapi.json")).json()
        paths = spec["paths"]
        for path in (
            "/minimaxi/v1/video_generation",
            "/minimaxi/v1/query/video_generation",
            "/minimaxi/v1/files/retrieve",
            "/minimaxi/v1/files/retrieve_content",
        ):
            assert path in paths
        assert "CreateRequest" in spec["components"]["schemas"]
        assert (await http.get("/docs")).status_code == 200
