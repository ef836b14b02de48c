"""The official ``openai`` SDK (pinned in the dev extras) against the gateway in process:
``AsyncOpenAI`` over ``httpx2.ASGITransport``, on the fake upstream. ``create_and_poll``
honours the poll hint and ends on a cancel, ``list`` auto-paginates to the end (and past a
video deleted on the way), the SDK's uploads work, and every error it can meet here raises
the class a client expects. ``tests/e2e/test_openai_sdk.py`` does the same against a live
server and the sandbox's real videos."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
import pytest_asyncio
from PIL import Image

from reelgate.api.idempotency import _fingerprint
from reelgate.providers.fake import FakeUpstream
from reelgate.surfaces.openai.forms import identity
from tests.inprocess.harness import BASE_URL, InProcess, in_process
from tests.inprocess.operator import Operator
from tests.inprocess.test_openai_api import MP4
from tests.support import fresh_database, image_bytes

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    # the SDK marks every videos method deprecated (OpenAI's own service closed)
    pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcess]:
    data_dir = tmp_path_factory.mktemp("openai-sdk")
    with fresh_database(data_dir) as url:
        async with in_process(data_dir, url, FakeUpstream(video_bytes=MP4)) as gw:
            yield gw


def sdk(gateway: InProcess, key: str, retries: int = 0, **hooks: Any) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway.app), **hooks)
    return openai.AsyncOpenAI(
        api_key=key, base_url=BASE_URL + "/v1", http_client=http, max_retries=retries
    )


async def new_key(gateway: InProcess, credit: int = 10_000, **limits: Any) -> tuple[int, str]:
    async with Operator(gateway) as op:
        account = await op.account(credit)
        return account["id"], (await op.key(account["id"], **limits))["key"]


@pytest_asyncio.fixture(loop_scope="module")
async def client(gateway: InProcess) -> AsyncIterator[openai.AsyncOpenAI]:
    """A fresh account's SDK client."""
    async with sdk(gateway, (await new_key(gateway))[1]) as c:
        yield c


async def upstream_id(gateway: InProcess, client: openai.AsyncOpenAI, video_id: str) -> str:
    account = (await gateway.gw.auth.api_key(client.api_key)).account_id
    task = await gateway.gw.task_service.get(account, video_id)
    assert task.upstream_task_id is not None
    return task.upstream_task_id


async def test_create_and_poll_sleeps_as_told_until_completed_then_downloads(
    gateway: InProcess, client: openai.AsyncOpenAI
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # the world moves on while the client waits
        slept.append(seconds)
        (video_id,) = [t.platform_id for t in await tasks_of(gateway, client)]
        await gateway.finish(await upstream_id(gateway, client, video_id))

    client.videos._sleep = sleep  # type: ignore[method-assign]
    video = await client.videos.create_and_poll(prompt="a paper boat", model="T2V-01")
    assert (video.status, video.progress, video.seconds, video.size) == (
        "completed",
        100,
        "6",
        "1280x720",
    )
    assert slept == [1.0]  # the gateway's hint (its floor: the fake polls every 0.3 s)
    content = await client.videos.download_content(video.id)
    assert content.content == MP4
    thumbnail = await client.videos.download_content(video.id, variant="thumbnail")
    assert Image.open(io.BytesIO(thumbnail.content)).format == "JPEG"


async def tasks_of(gateway: InProcess, client: openai.AsyncOpenAI) -> list[Any]:
    account = (await gateway.gw.auth.api_key(client.api_key)).account_id
    page, _ = await gateway.gw.task_service.list_after(account, None, 10)
    return page


async def test_a_cancel_ends_a_poll_instead_of_stalling_it(
    gateway: InProcess, client: openai.AsyncOpenAI
) -> None:
    video = await client.videos.create(prompt="a paper boat", model="T2V-01")

    async def sleep(seconds: float) -> None:  # someone cancels it while the client waits
        async with gateway.client(client.api_key) as http:
            assert (await http.post(f"/v1/tasks/{video.id}/cancel")).status_code == 200

    client.videos._sleep = sleep  # type: ignore[method-assign]
    done = await client.videos.poll(video.id)
    assert done.status == "failed" and done.error is not None
    assert done.error.code == "cancelled"


async def test_an_uploaded_image_and_an_h3_request_go_through_the_sdk(
    gateway: InProcess, client: openai.AsyncOpenAI
) -> None:
    png = image_bytes(640, 400)
    framed = await client.videos.create(
        prompt="the boat sails",
        model="MiniMax-Hailuo-02",
        input_reference=("frame.png", png, "image/png"),
    )
    h3 = await client.videos.create(
        prompt="waves on black sand", model="MiniMax-H3", seconds="4", size="768x1344"
    )
    assert (h3.seconds, h3.size) == ("4", "768x1344")
    account = (await gateway.gw.auth.api_key(client.api_key)).account_id
    first = await gateway.gw.task_service.get(account, framed.id)
    assert first.mode == "i2v" and first.request["first_frame_image"].endswith(";640x400")
    sent = gateway.upstream.tasks[await upstream_id(gateway, client, framed.id)].request
    assert sent.first_frame is not None
    assert sent.first_frame.source.startswith("data:image/png;base64,")
    upstream = gateway.upstream.tasks[await upstream_id(gateway, client, h3.id)].request
    assert (upstream.model, upstream.duration, upstream.ratio) == ("MiniMax-H3", 4, "9:16")


async def test_list_auto_paginates_to_the_end_and_past_a_deletion(
    gateway: InProcess, client: openai.AsyncOpenAI
) -> None:
    made = [(await client.videos.create(prompt=f"boat {i}", model="T2V-01")).id for i in range(5)]
    _, other = await new_key(gateway)
    async with sdk(gateway, other) as stranger:
        foreign = (await stranger.videos.create(prompt="not yours", model="T2V-01")).id
    assert [v.id async for v in client.videos.list(limit=2)] == made[::-1]
    assert [v.id async for v in client.videos.list(limit=2, order="asc")] == made
    assert foreign not in [v.id async for v in client.videos.list()]
    for video_id in made:
        await gateway.finish(await upstream_id(gateway, client, video_id))
    # each page's last video is deleted before the SDK asks for the page after it
    deleted = [v.id async for v in client.videos.list(limit=2) if await gone(client, v.id)]
    assert deleted == made[::-1]
    assert [v async for v in client.videos.list()] == []


async def gone(client: openai.AsyncOpenAI, video_id: str) -> bool:
    return (await client.videos.delete(video_id)).deleted


async def test_every_error_raises_the_class_a_client_expects(
    gateway: InProcess, client: openai.AsyncOpenAI
) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        await client.videos.create(prompt="x", model="T2V-01", size="720x1280")
    assert (bad.value.code, bad.value.param, bad.value.type) == (
        "invalid_value",
        "size",
        "invalid_request_error",
    )
    assert bad.value.request_id
    with pytest.raises(openai.BadRequestError, match="sora-2"):
        await client.videos.create(prompt="x", model="sora-2")
    with pytest.raises(openai.NotFoundError):
        await client.videos.retrieve("video_nope")
    with pytest.raises(openai.BadRequestError) as unsupported:
        await client.videos.remix("video_nope", prompt="again")
    assert unsupported.value.code == "unsupported"
    video = await client.videos.create(prompt="x", model="T2V-01")
    with pytest.raises(openai.BadRequestError) as early:
        await client.videos.download_content(video.id)
    assert early.value.code == "video_not_ready"
    gateway.upstream.start(await upstream_id(gateway, client, video.id))
    await gateway.track()
    with pytest.raises(openai.BadRequestError) as running:
        await client.videos.delete(video.id)
    assert running.value.code == "video_not_finished"

    async with sdk(gateway, "sk-not-a-key") as stranger:
        with pytest.raises(openai.AuthenticationError):
            await stranger.videos.list()
    async with sdk(gateway, (await new_key(gateway, models=["T2V-01"]))[1]) as narrow:
        with pytest.raises(openai.PermissionDeniedError):
            await narrow.videos.create(prompt="x", model="MiniMax-H3")
    async with sdk(gateway, (await new_key(gateway, rpm_limit=1))[1]) as slow:
        await slow.videos.list()
        with pytest.raises(openai.RateLimitError) as limited:
            await slow.videos.list()
    assert limited.value.code == "rate_limit_exceeded"


async def test_idempotency_conflicts_raise_conflict_and_unprocessable(
    gateway: InProcess, client: openai.AsyncOpenAI
) -> None:
    """A key still held by a first request (409) and a key reused for another request
    (422). The first is held here by hand, under the fingerprint of the very form the SDK
    then sends: it matches although the SDK draws a new multipart boundary."""
    account = (await gateway.gw.auth.api_key(client.api_key)).account_id
    fields = {"prompt": "held", "model": "T2V-01"}
    fingerprint = _fingerprint(b"POST /v1/videos\n", identity(fields))
    assert await gateway.gw.idempotency.begin(account, "held-key", fingerprint, "other") is None
    headers = {"Idempotency-Key": "held-key"}
    with pytest.raises(openai.ConflictError):
        await client.videos.create(prompt="held", model="T2V-01", extra_headers=headers)
    with pytest.raises(openai.UnprocessableEntityError):
        await client.videos.create(prompt="another", model="T2V-01", extra_headers=headers)


async def test_no_balance_is_insufficient_quota_and_not_retried(gateway: InProcess) -> None:
    sent: list[str] = []

    async def count(request: httpx2.Request) -> None:
        sent.append(request.url.path)

    _, broke = await new_key(gateway, credit=0)
    async with sdk(gateway, broke, retries=2, event_hooks={"request": [count]}) as poor:
        with pytest.raises(openai.RateLimitError) as caught:
            await poor.videos.create(prompt="x", model="T2V-01")
    assert caught.value.code == "insufficient_quota"
    assert sent == ["/v1/videos"]  # x-should-retry: false, whatever max_retries says


async def test_an_upstream_outage_is_an_internal_server_error(tmp_path: Path) -> None:
    up = FakeUpstream()
    with fresh_database(tmp_path) as url:
        async with in_process(tmp_path, url, up) as gw:
            up.unreachable_next("submit", times=10)
            async with sdk(gw, (await new_key(gw))[1]) as c:
                with pytest.raises(openai.InternalServerError):
                    await c.videos.create(prompt="x", model="T2V-01")
