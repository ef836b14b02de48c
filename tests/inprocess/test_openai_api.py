"""The gateway's OpenAI-style ``/v1/videos`` in process, over raw HTTP, on the fake
upstream: the wire (the Video object, the error envelope and its statuses), one task three
ways, content variants, delete, list paging, idempotency with the SDK's multipart bodies,
and ``/v1/videos`` living beside ``/v1/tasks`` and MiniMax's root routes. The official SDK
drives the same app in ``test_openai_sdk.py``."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from PIL import Image

from reelgate.providers.fake import FakeUpstream
from reelgate.sandbox.render import RenderRequest, render_video
from tests.inprocess.harness import InProcess, in_process
from tests.inprocess.operator import Operator
from tests.support import fresh_database, image_bytes

pytestmark = pytest.mark.asyncio(loop_scope="module")

VIDEO_KEYS = {
    "id", "object", "model", "status", "progress", "created_at", "completed_at",
    "expires_at", "prompt", "remixed_from_video_id", "seconds", "size", "error",
}  # fmt: skip
T2V = {"prompt": "a paper boat on a pond", "model": "T2V-01"}


def small_mp4() -> bytes:
    """A real one-second MP4 (320x180), so that previews can be drawn from it."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.mp4"
        render_video(RenderRequest("t2v", "a small clip", 320, 180, 1), path)
        return path.read_bytes()


MP4 = small_mp4()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcess]:
    data_dir = tmp_path_factory.mktemp("openai")
    with fresh_database(data_dir) as url:
        async with in_process(data_dir, url, FakeUpstream(video_bytes=MP4)) as gw:
            yield gw


async def new_key(gateway: InProcess, credit: int = 10_000, **limits: Any) -> tuple[int, str]:
    async with Operator(gateway) as op:
        account = await op.account(credit)
        return account["id"], (await op.key(account["id"], **limits))["key"]


@pytest_asyncio.fixture(loop_scope="module")
async def client(gateway: InProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh account's client (so that its list holds only this test's videos)."""
    _, key = await new_key(gateway)
    async with gateway.client(key) as http:
        yield http


async def create(http: httpx.AsyncClient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = await http.post("/v1/videos", json=body or T2V)
    assert resp.status_code == 200, resp.text
    video: dict[str, Any] = resp.json()
    return video


async def upstream_id(http: httpx.AsyncClient, video_id: str) -> str:
    task_id: str = (await http.get(f"/v1/tasks/{video_id}")).json()["task_id"]
    return task_id


async def finished(gateway: InProcess, http: httpx.AsyncClient, body: Any = None) -> str:
    video = await create(http, body)
    await gateway.finish(await upstream_id(http, video["id"]))
    return str(video["id"])


def error_of(resp: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["x-request-id"] == resp.headers["trace-id"]
    error: dict[str, Any] = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if code is not None:
        assert error["code"] == code, error
    return error


# -- the wire --------------------------------------------------------------------------


async def test_a_create_answers_a_video_that_three_apis_reach(
    gateway: InProcess, client: httpx.AsyncClient
) -> None:
    resp = await client.post("/v1/videos", json={"prompt": "a kite", "size": "1280x720"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-request-id"]
    video = resp.json()
    assert set(video) == VIDEO_KEYS
    assert video["id"].startswith("video_")
    assert video | {"id": "", "created_at": 0} == {
        "id": "",
        "object": "video",
        "model": "MiniMax-Hailuo-2.3",
        "status": "queued",
        "progress": 0,
        "created_at": 0,
        "completed_at": None,
        "expires_at": None,
        "prompt": "a kite",
        "remixed_from_video_id": None,
        "seconds": "6",
        "size": "1366x768",  # Sora's 1280x720 is this model's 768P
        "error": None,
    }
    task = (await client.get(f"/v1/tasks/{video['id']}")).json()
    assert (task["model"], task["duration"], task["resolution"]) == (
        "MiniMax-Hailuo-2.3",
        6,
        "768P",
    )
    query = await client.get(
        "/minimaxi/v1/query/video_generation", params={"task_id": task["task_id"]}
    )
    assert query.json()["platform_id"] == video["id"]
    by_upstream = await client.get(f"/v1/videos/{task['task_id']}")  # either id
    assert by_upstream.json()["id"] == video["id"]
    assert gateway.upstream.tasks[task["task_id"]].request.explicit >= {"duration", "resolution"}


async def test_a_form_with_an_uploaded_frame_is_a_first_frame(client: httpx.AsyncClient) -> None:
    png = image_bytes(640, 400)
    resp = await client.post(
        "/v1/videos",
        data={"prompt": "the boat sails", "model": "MiniMax-Hailuo-02", "seconds": "6"},
        files={"input_reference": ("frame.png", png, "image/png")},
    )
    assert resp.status_code == 200, resp.text
    task = (await client.get(f"/v1/tasks/{resp.json()['id']}")).json()
    assert task["mode"] == "i2v" and task["request"]["first_frame_image"].startswith("data:image")
    # a urlencoded form (no file) is read too
    plain = await client.post("/v1/videos", data={"prompt": "a kite", "model": "T2V-01"})
    assert plain.status_code == 200 and plain.json()["size"] == "1280x720"


async def test_a_create_of_more_than_a_mib_is_taken(client: httpx.AsyncClient) -> None:
    """Other routes under /v1 take 1 MiB at most; a create takes an image (http_limits)."""
    noise = Image.frombytes("RGB", (700, 700), os.urandom(700 * 700 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    assert buffer.tell() > 1024 * 1024
    resp = await client.post(
        "/v1/videos",
        data={"prompt": "static"},
        files={"input_reference": ("noise.png", buffer.getvalue(), "image/png")},
    )
    assert resp.status_code == 200, resp.text


async def test_errors_read_as_openai_here_and_as_before_next_door(gateway: InProcess) -> None:
    async with gateway.client(None) as anonymous:
        error = error_of(await anonymous.get("/v1/videos"), 401, "invalid_api_key")
        assert error["type"] == "invalid_request_error"
    async with gateway.client("sk-not-a-key") as stranger:
        error_of(await stranger.post("/v1/videos", json=T2V), 401, "invalid_api_key")
    async with gateway.client() as http:
        error_of(await http.get("/v1/videos/video_nope"), 404, "not_found")
        error_of(await http.get("/v1/videos/a/b/c"), 404, "not_found")  # no such route
        bad = await http.post("/v1/videos", content=b"{", headers={"content-type": "x/json"})
        error_of(bad, 400, "invalid_request")
        refused = error_of(await http.post("/v1/videos", json={**T2V, "size": "1x1"}), 400)
        assert refused["param"] == "size" and "1280x720" in refused["message"]
        # the platform API keeps its own shape, MiniMax's root routes theirs
        platform = await http.get("/v1/tasks/video_nope")
        assert platform.status_code == 404 and set(platform.json()) == {"error", "request_id"}
        minimax = await http.post("/v1/video_generation", json={"model": "T2V-01"})
        assert minimax.status_code == 200 and minimax.json()["base_resp"]["status_code"] == 2013


async def test_remix_edits_extensions_and_characters_are_refused_clearly(
    gateway: InProcess,
) -> None:
    calls = [
        ("POST", "/v1/videos/video_x/remix"),
        ("POST", "/v1/videos/edits"),
        ("POST", "/v1/videos/extensions"),
        ("POST", "/v1/videos/characters"),
        ("GET", "/v1/videos/characters/char_x"),
    ]
    async with gateway.client() as http:
        for method, path in calls:
            error = error_of(await http.request(method, path, json={"prompt": "x"}), 400)
            assert error["code"] == "unsupported" and "MiniMax" in error["message"], path
    async with gateway.client(None) as anonymous:
        for method, path in calls:  # the key first, as everywhere
            assert (await anonymous.request(method, path)).status_code == 401


async def test_refusals_of_the_upstream(tmp_path: Path) -> None:
    """A gateway of its own: an unreachable upstream cools its one channel down."""
    up = FakeUpstream()
    with fresh_database(tmp_path) as url:
        async with in_process(tmp_path, url, up) as gw, gw.client() as http:
            up.refuse_next("submit", 2013, "invalid params, prompt")
            error_of(await http.post("/v1/videos", json=T2V), 400, "upstream_refused")
            up.refuse_next("submit", 1026, "input sensitive")
            error_of(await http.post("/v1/videos", json=T2V), 400, "moderation_blocked")
            up.unreachable_next("submit", times=10)
            error = error_of(await http.post("/v1/videos", json=T2V), 503)
            assert error["type"] == "server_error"


async def test_refusals_of_the_platform(gateway: InProcess) -> None:
    _, broke = await new_key(gateway, credit=0)
    async with gateway.client(broke) as http:
        resp = await http.post("/v1/videos", json=T2V)
        assert error_of(resp, 429, "insufficient_quota")["type"] == "insufficient_quota"
        assert resp.headers["x-should-retry"] == "false"
    _, narrow = await new_key(gateway, models=["T2V-01"])
    async with gateway.client(narrow) as http:
        error_of(await http.post("/v1/videos", json={"prompt": "x"}), 403, "permission_denied")
    _, slow = await new_key(gateway, rpm_limit=1)
    async with gateway.client(slow) as http:
        assert (await http.get("/v1/videos")).status_code == 200
        assert error_of(await http.get("/v1/videos"), 429, "rate_limit_exceeded")["type"] == (
            "requests"
        )


# -- a video's life --------------------------------------------------------------------


async def test_content_variants_once_completed(
    gateway: InProcess, client: httpx.AsyncClient
) -> None:
    video = await create(client)
    early = await client.get(f"/v1/videos/{video['id']}/content")
    assert "queued" in error_of(early, 400, "video_not_ready")["message"]
    await gateway.finish(await upstream_id(client, video["id"]))
    done = (await client.get(f"/v1/videos/{video['id']}")).json()
    assert (done["status"], done["progress"], done["error"]) == ("completed", 100, None)
    assert done["completed_at"] >= done["created_at"] and done["size"] == "1280x720"

    mp4 = await client.get(f"/v1/videos/{video['id']}/content", params={"variant": "video"})
    assert (mp4.status_code, mp4.headers["content-type"]) == (200, "video/mp4")
    assert mp4.content == MP4
    part = await client.get(f"/v1/videos/{video['id']}/content", headers={"Range": "bytes=0-9"})
    assert (part.status_code, part.content) == (206, MP4[:10])
    sizes = {}
    for variant in ("thumbnail", "spritesheet"):
        resp = await client.get(f"/v1/videos/{video['id']}/content", params={"variant": variant})
        assert (resp.status_code, resp.headers["content-type"]) == (200, "image/jpeg")
        image = Image.open(io.BytesIO(resp.content))
        assert image.format == "JPEG"
        sizes[variant] = image.size
    assert sizes == {"thumbnail": (320, 180), "spritesheet": (5 * 160, 2 * 90)}
    wrong = await client.get(f"/v1/videos/{video['id']}/content", params={"variant": "gif"})
    assert error_of(wrong, 400)["param"] == "variant"


async def test_a_preview_is_drawn_where_the_gateway_keeps_no_copy(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        upstream = FakeUpstream(video_bytes=MP4)
        never = in_process(tmp_path, url, upstream, copy_videos="never")
        async with never as gw, gw.client() as http:
            video_id = await finished(gw, http)
            resp = await http.get(f"/v1/videos/{video_id}/content", params={"variant": "thumbnail"})
    assert resp.status_code == 200, resp.text
    assert Image.open(io.BytesIO(resp.content)).size == (320, 180)
    assert upstream.called("download")  # fetched from the upstream, as no copy is kept


async def test_a_cancelled_or_failed_task_reads_failed_with_its_reason(
    gateway: InProcess, client: httpx.AsyncClient
) -> None:
    video = await create(client)
    assert (await client.post(f"/v1/tasks/{video['id']}/cancel")).status_code == 200
    resp = await client.get(f"/v1/videos/{video['id']}")
    cancelled = resp.json()
    assert cancelled["status"] == "failed" and cancelled["error"]["code"] == "cancelled"
    assert cancelled["completed_at"] is not None
    assert "openai-poll-after-ms" not in resp.headers  # nothing more to wait for
    for code, reason in ((1026, "moderation_blocked"), (1000, "upstream_failed")):
        video = await create(client)
        gateway.upstream.fail(await upstream_id(client, video["id"]), code, "no video")
        await gateway.track()
        failed = (await client.get(f"/v1/videos/{video['id']}")).json()
        assert failed["status"] == "failed" and failed["error"]["code"] == reason, failed


async def test_delete_a_finished_a_queued_and_a_running_video(
    gateway: InProcess, client: httpx.AsyncClient
) -> None:
    done = await finished(gateway, client)
    resp = await client.delete(f"/v1/videos/{done}")
    assert resp.json() == {"id": done, "object": "video.deleted", "deleted": True}
    error_of(await client.get(f"/v1/videos/{done}"), 404)
    assert (await client.get(f"/v1/tasks/{done}")).status_code == 404
    error_of(await client.delete(f"/v1/videos/{done}"), 404)  # once

    queued = await create(client)
    queued_upstream = await upstream_id(client, queued["id"])
    resp = await client.delete(f"/v1/videos/{queued['id']}")
    assert resp.status_code == 200 and resp.json()["deleted"] is True
    assert gateway.upstream.called("cancel")[-1].argument == queued_upstream  # stopped there

    running = await create(client)
    gateway.upstream.start(await upstream_id(client, running["id"]))
    await gateway.track()
    refusal = error_of(await client.delete(f"/v1/videos/{running['id']}"), 400)
    assert refusal["code"] == "video_not_finished" and "in_progress" in refusal["message"]
    assert (await client.get(f"/v1/videos/{running['id']}")).json()["status"] == "in_progress"


async def test_a_queued_delete_refunds_it(gateway: InProcess) -> None:
    account, key = await new_key(gateway, credit=1000)
    async with gateway.client(key) as http, Operator(gateway) as op:
        video = await create(http)
        assert await op.balance(account) < 1000
        assert (await http.delete(f"/v1/videos/{video['id']}")).status_code == 200
        assert await op.balance(account) == 1000


# -- the list --------------------------------------------------------------------------


async def test_the_list_pages_to_the_end_and_shows_only_the_callers_videos(
    gateway: InProcess, client: httpx.AsyncClient
) -> None:
    made = [(await create(client))["id"] for _ in range(5)]
    _, other_key = await new_key(gateway)
    async with gateway.client(other_key) as other:
        foreign = (await create(other))["id"]

    async def pages(**params: Any) -> list[dict[str, Any]]:
        out, after = [], None
        while True:
            query = {**params, **({"after": after} if after else {})}
            page = (await client.get("/v1/videos", params=query)).json()
            out.append(page)
            if not page["has_more"]:
                return out
            after = page["last_id"]

    newest_first = await pages(limit=2)
    assert [len(p["data"]) for p in newest_first] == [2, 2, 1]
    assert [p["has_more"] for p in newest_first] == [True, True, False]
    ids = [v["id"] for p in newest_first for v in p["data"]]
    assert ids == made[::-1] and foreign not in ids
    for page in newest_first:
        assert page["object"] == "list"
        assert (page["first_id"], page["last_id"]) == (
            page["data"][0]["id"],
            page["data"][-1]["id"],
        )
    oldest_first = await pages(limit=3, order="asc")
    assert [v["id"] for p in oldest_first for v in p["data"]] == made
    whole = (await client.get("/v1/videos", params={"limit": 5})).json()
    assert len(whole["data"]) == 5 and whole["has_more"] is False
    assert (await client.get("/v1/videos", params={"limit": 4})).json()["has_more"] is True
    empty = (await client.get("/v1/videos", params={"after": made[0]})).json()
    assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None,
                     "has_more": False}  # fmt: skip


async def test_list_parameters_at_their_bounds(client: httpx.AsyncClient) -> None:
    for limit in ("1", "100"):
        assert (await client.get("/v1/videos", params={"limit": limit})).status_code == 200
    for limit in ("0", "101", "-1", "2.5", "ten"):
        error = error_of(await client.get("/v1/videos", params={"limit": limit}), 400)
        assert error["param"] == "limit"
    assert error_of(await client.get("/v1/videos", params={"order": "up"}), 400)["param"] == (
        "order"
    )
    error = error_of(await client.get("/v1/videos", params={"after": "video_nope"}), 400)
    assert error["param"] == "after"


async def test_paging_goes_on_after_a_video_deleted_meanwhile(
    gateway: InProcess, client: httpx.AsyncClient
) -> None:
    made = [await finished(gateway, client) for _ in range(4)]
    first = (await client.get("/v1/videos", params={"limit": 2})).json()
    assert first["last_id"] == made[2]
    assert (await client.delete(f"/v1/videos/{made[2]}")).status_code == 200
    rest = (await client.get("/v1/videos", params={"limit": 2, "after": made[2]})).json()
    assert [v["id"] for v in rest["data"]] == [made[1], made[0]] and not rest["has_more"]
    foreign_after = await client.get("/v1/videos", params={"after": "video_01" + "0" * 24})
    error_of(foreign_after, 400)


# -- idempotency -----------------------------------------------------------------------


async def test_an_idempotent_multipart_create_replays_whatever_its_boundary(
    gateway: InProcess, client: httpx.AsyncClient
) -> None:
    """The SDK sends multipart with a new random boundary on each try: the retry of one
    create must still replay the first answer, not read as another request."""
    png = image_bytes(640, 400)
    fields = {"prompt": "the boat sails", "model": "MiniMax-Hailuo-02"}
    headers = {"Idempotency-Key": "create-once"}
    before = await gateway.count_tasks()
    answers = []
    for boundary in ("first-boundary", "second-boundary"):
        resp = await client.post(
            "/v1/videos",
            data=fields,
            files={"input_reference": ("frame.png", png, "image/png")},
            headers={**headers, "content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert resp.status_code == 200, resp.text
        answers.append(resp)
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert answers[1].headers["idempotent-replayed"] == "true"
    assert await gateway.count_tasks() == before + 1
    other = await client.post(
        "/v1/videos",
        data={**fields, "prompt": "another"},
        files={"input_reference": ("f.png", png, "image/png")},
        headers=headers,
    )
    error_of(other, 422, "invalid_value")
