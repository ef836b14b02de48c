"""MiniMax v2 (MiniMax-H3) through a live gateway: real HTTP to ``reelgate serve`` with the
mounted sandbox as its upstream. Every mode is created at the gateway's ``/minimaxi/v2``,
polled to ``succeeded``, and its video downloaded from ``content.url`` (the gateway's
signed URL of its own copy) and read back by PyAV: the frame size of its ratio and
resolution, 24 fps, MiniMax's frame count, an AAC soundtrack as long as the picture. Then
DELETE racing a task's completion (one outcome, one money movement, read from the admin
ledger), and the v2 callback a client receives. (The answers that need no live server are
tested in process: ``tests/inprocess/test_minimax_v2_api.py``.)

The clips render once, together, in the module's fixture (the sandbox renders two at a
time); short clips at small sizes keep it quick: H3-Max at 480P for 5 s, H3 at 768P for
4 s. 2K is left to the renderer's own tests (``tests/integration/test_render_v2.py``).
The module's gateway keeps a task queued for 3 s (``TIMINGS``), so that a DELETE sent
right after a create meets a queued task even on a busy machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from reelgate.sandbox.render.sizes import FPS, v2_frame_count
from tests.e2e.operator import Operator
from tests.e2e.test_callbacks import standard_webhooks_verify
from tests.integration.test_sandbox_v2 import decode, mp4, png, uri, wav
from tests.receiver import Receiver
from tests.support import API_KEY, SANDBOX_KEY, Server, gateway_process

RED, GREEN, BLUE = (220, 30, 30), (30, 200, 60), (40, 60, 220)
MAX_480 = {"model": "MiniMax-H3-Max", "resolution": "480P", "duration": 5}
H3_768 = {"model": "MiniMax-H3", "resolution": "768P", "duration": 4}


def text(prompt: str = "a red kite over a windy beach, gulls calling") -> dict[str, Any]:
    return {"type": "text", "text": prompt}


def image(data: bytes, role: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "image_url", "image_url": {"url": uri("image/png", data)}}
    if role is not None:
        item["role"] = role
    return item


def clip(kind: str, data_uri: str) -> dict[str, Any]:
    return {"type": f"{kind}_url", f"{kind}_url": {"url": data_uri}, "role": f"reference_{kind}"}


class V2:
    """A plain MiniMax v2 client over real HTTP, as an external client would be."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.http = httpx.Client(
            base_url=base_url + "/minimaxi/v2",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=60,
            trust_env=False,
        )

    def create(self, body: dict[str, Any]) -> dict[str, str]:
        resp = self.http.post("/video_generation", json=body)
        assert resp.status_code == 200, resp.text
        made: dict[str, str] = resp.json()
        assert set(made) == {"task_id", "platform_id"}, made
        return made

    def query(self, task_id: str) -> httpx.Response:
        return self.http.get(f"/query/video_generation/{task_id}")

    def task(self, task_id: str) -> dict[str, Any]:
        resp = self.query(task_id)
        assert resp.status_code == 200, resp.text
        task: dict[str, Any] = resp.json()["task"]
        return task

    def wait(self, task_id: str, timeout: float = 90.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            task = self.task(task_id)
            if task["status"] not in ("queued", "running"):
                return task
            assert time.monotonic() < deadline, f"task {task_id} not done in {timeout} s: {task}"
            time.sleep(0.1)

    def delete(self, task_id: str) -> httpx.Response:
        return self.http.delete(f"/video_generation/{task_id}")


def refused(resp: httpx.Response, status: int = 400, code: int = 2013) -> str:
    """v2's error envelope with its real HTTP status; the message, code stripped."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["type"] == "error" and body["error"]["http_code"] == str(status), body
    message: str = body["error"]["message"]
    assert message.endswith(f" ({code})"), message
    return message.removesuffix(f" ({code})")


@dataclass(frozen=True)
class Tenant:
    account_id: int
    key: str
    secret: str  # the account's webhook secret, which signs its callbacks


# A task waits 3 s in "queued" (Preparing 1 s, Queueing 2 s) then runs 0.5 s: long enough
# that a DELETE right after the create finds it queued on a loaded machine, short enough
# that the module's clips, rendered together, take seconds.
TIMINGS = "1,2,0.5"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gateway_process(tmp_path_factory.mktemp("v2"), REELGATE_SANDBOX_TIMINGS=TIMINGS) as srv:
        yield srv


@pytest.fixture(scope="module")
def tenant(gateway: Server) -> Tenant:
    """An account with credit and a webhook secret: its ledger is the module's alone."""
    with Operator(gateway) as op:
        account_id, key = op.client(credit=100_000)
        secret = op.call("POST", f"/accounts/{account_id}/webhook-secret", 201)["secret"]
    return Tenant(account_id, key["key"], secret)


@pytest.fixture
def v2(gateway: Server, tenant: Tenant) -> Iterator[V2]:
    client = V2(gateway.url, tenant.key)
    yield client
    client.http.close()


def ledger_of(server: Server, account_id: int) -> list[dict[str, Any]]:
    with Operator(server) as op:
        entries: list[dict[str, Any]] = op.call(
            "GET", f"/accounts/{account_id}/ledger", params={"limit": 1000}
        )["data"]
    return entries


def moves(entries: list[dict[str, Any]], platform_id: str) -> dict[str, int]:
    """One task's ledger entries, kind -> amount (the unique index allows one per kind)."""
    mine = [e for e in entries if e["platform_id"] == platform_id]
    out = {e["kind"]: e["amount"] for e in mine}
    assert len(out) == len(mine), mine
    return out


# -- every mode -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    body: dict[str, Any]
    size: tuple[int, int]  # the frame size of its ratio and resolution (render/sizes.py)
    ratio: str  # the ratio the task echoes (adaptive resolved)
    usage: dict[str, int]


def _modes() -> dict[str, Mode]:
    out5 = {"total_seconds": 5, "input_seconds": 0, "output_seconds": 5}
    out4 = {"total_seconds": 4, "input_seconds": 0, "output_seconds": 4}
    four_three, square = png(800, 600, RED), png(400, 400, BLUE)
    return {
        "text": Mode(
            {**MAX_480, "ratio": "9:16", "content": [text()]},
            (480, 848),
            "9:16",
            out5 | {"input_image_count": 0},
        ),
        # a lone image without a role is the first frame; frames ignore the ratio asked
        "first frame": Mode(
            {**MAX_480, "ratio": "16:9", "content": [text(), image(png(300, 400, RED))]},
            (480, 640),
            "3:4",
            out5 | {"input_image_count": 1},
        ),
        "last frame": Mode(
            {**H3_768, "content": [text(), image(png(400, 400, GREEN), "last_frame")]},
            (768, 768),
            "1:1",
            out4 | {"input_image_count": 1},
        ),
        # adaptive follows the first frame (4:3), not the last (1:1)
        "first and last": Mode(
            {
                **MAX_480,
                "content": [text(), image(four_three, "first_frame"), image(square, "last_frame")],
            },
            (640, 480),
            "4:3",
            out5 | {"input_image_count": 2},
        ),
        "reference images": Mode(
            {
                **H3_768,
                "ratio": "21:9",
                "content": [
                    text(),
                    image(four_three, "reference_image"),
                    image(square, "reference_image"),
                ],
            },
            (1536, 672),
            "21:9",
            out4 | {"input_image_count": 2},
        ),
        # 2.5 s of reference video is billed as 3 s of input (rounded up)
        "reference video": Mode(
            {
                **H3_768,
                "ratio": "16:9",
                "content": [text(), clip("video", uri("video/mp4", mp4(2.5)))],
            },
            (1344, 768),
            "16:9",
            {"total_seconds": 7, "input_seconds": 3, "output_seconds": 4, "input_image_count": 0},
        ),
        # adaptive follows the reference image (256 x 600: nearest 9:16); audio needs an
        # image or a video next to it
        "reference audio": Mode(
            {
                **H3_768,
                "content": [
                    text(),
                    image(png(256, 600, GREEN), "reference_image"),
                    clip("audio", uri("audio/wav", wav(2.4))),
                ],
            },
            (768, 1344),
            "9:16",
            out4 | {"input_image_count": 1, "input_audio_seconds": 2},
        ),
    }


MODES = _modes()


@dataclass(frozen=True)
class Rendered:
    made: dict[str, str]
    task: dict[str, Any]
    mp4: bytes


@dataclass(frozen=True)
class Batch:
    results: dict[str, Rendered]
    receiver: Receiver  # the "text" task's callback_url


@pytest.fixture(scope="module")
def batch(gateway: Server, tenant: Tenant) -> Iterator[Batch]:
    """Every mode created at once (the "text" task with a callback URL), each polled to
    its end and its video fetched from ``content.url`` with no auth header, as MiniMax's
    clients download."""
    receiver = Receiver().start()
    client = V2(gateway.url, tenant.key)
    try:
        made = {}
        for name, mode in MODES.items():
            extra = {"callback_url": receiver.url} if name == "text" else {}
            made[name] = client.create({**mode.body, **extra})
        results = {}
        for name, ids in made.items():
            task = client.wait(ids["task_id"])
            assert task["status"] == "succeeded", (name, task)
            video = httpx.get(task["content"]["url"], timeout=60, trust_env=False)
            assert video.status_code == 200, (name, video.text)
            assert video.headers["content-type"] == "video/mp4"
            results[name] = Rendered(ids, task, video.content)
        yield Batch(results, receiver)
    finally:
        client.http.close()
        receiver.stop()


# The clips, their links and their callback do not depend on the store: they run in one
# pass (the renders are most of this module's cost); the DELETE races below run on both.
@pytest.mark.once
@pytest.mark.parametrize("name", list(MODES))
def test_each_mode_yields_its_clip(gateway: Server, batch: Batch, name: str) -> None:
    mode, result = MODES[name], batch.results[name]
    task = result.task
    assert (task["id"], task["platform_id"]) == (result.made["task_id"], result.made["platform_id"])
    assert (task["model"], task["resolution"], task["duration"], task["ratio"]) == (
        mode.body["model"],
        mode.body["resolution"],
        mode.body["duration"],
        mode.ratio,
    )
    assert task["usage"] == mode.usage
    # the gateway's own signed URL of its copy, not the upstream's
    url = task["content"]["url"]
    assert url.startswith(gateway.url + "/files/") and "sig=" in url and "/sandbox" not in url

    video = decode(result.mp4)
    assert video.size == mode.size
    assert video.rate == FPS
    frames = v2_frame_count(mode.body["duration"])
    assert len(video.frames) == frames and frames / FPS >= mode.body["duration"]
    assert (video.audio_codec, video.channels) == ("aac", 2)
    assert abs(video.audio_s - frames / FPS) < 0.05, (video.audio_s, frames / FPS)
    assert video.audio_rms > 0.01  # a sound, not silence


@pytest.mark.once
def test_a_fresh_query_mints_a_fresh_url_of_the_same_copy(v2: V2, batch: Batch) -> None:
    result = batch.results["first frame"]
    time.sleep(1.1)  # the URL's expiry is in whole seconds
    again = v2.task(result.made["platform_id"])["content"]["url"]
    assert again != result.task["content"]["url"]
    assert httpx.get(again, timeout=60, trust_env=False).content == result.mp4
    tampered = again.replace("sig=", "sig=x")
    assert httpx.get(tampered, trust_env=False).status_code == 404


@pytest.mark.once
def test_the_client_callback_is_v2s_signed_task_without_a_url(tenant: Tenant, batch: Batch) -> None:
    made = batch.results["text"].made
    deadline = time.monotonic() + 30
    while not any(r.body["task"]["status"] == "succeeded" for r in batch.receiver.received):
        assert time.monotonic() < deadline, [r.body for r in batch.receiver.received]
        time.sleep(0.1)
    pushes = batch.receiver.received
    for push in pushes:
        assert set(push.body) == {"task"}, push.body  # v2's shape, no v1 fields
        assert (push.body["task"]["id"], push.body["task"]["platform_id"]) == (
            made["task_id"],
            made["platform_id"],
        )
        # a retried delivery would carry an expired link: the receiver queries instead
        assert "content" not in push.body["task"]
        assert standard_webhooks_verify(tenant.secret, push.headers, push.raw)
    statuses = [p.body["task"]["status"] for p in pushes]
    # in order, each status once (v2 has one waiting status: no second "queued" when the
    # upstream moves from its first waiting step to its second)
    assert statuses in (["queued", "running", "succeeded"], ["queued", "succeeded"]), statuses
    last = pushes[-1].body["task"]
    assert last["usage"] == MODES["text"].usage and last["ratio"] == "9:16"


# -- DELETE racing the task's life ------------------------------------------------------------

CHEAP = {**MAX_480, "ratio": "16:9", "content": [text("a paper boat on a pond")]}


def _race(server: Server, key: str, task_id: str, threads: int) -> list[httpx.Response]:
    """DELETE from ``threads`` threads at once, each until one of them is answered 200,
    then once more each: every answer."""
    answers: list[httpx.Response] = []
    won = threading.Event()
    lock = threading.Lock()

    def hammer() -> None:
        client = V2(server.url, key)
        with client.http:
            while True:
                last = won.is_set()
                resp = client.delete(task_id)
                with lock:
                    answers.append(resp)
                if resp.status_code == 200:
                    won.set()
                if last:
                    return
                time.sleep(0.02)

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(90)
    return answers


def test_delete_racing_a_task_moves_its_money_once(gateway: Server, tenant: Tenant, v2: V2) -> None:
    """Two DELETEs race for a queued task (one cancels it, the other is refused), and
    three hammer a task from the moment the gateway shows it running, across its
    success, until one deletes it: each task has one outcome and one money movement."""
    queued, running = v2.create(CHEAP), v2.create(CHEAP)
    queued_answers = _race(gateway, tenant.key, queued["task_id"], threads=2)
    while v2.task(running["task_id"])["status"] == "queued":
        time.sleep(0.02)
    running_answers = _race(gateway, tenant.key, running["platform_id"], threads=3)

    won = [a.json() for a in queued_answers if a.status_code == 200]
    assert won == [{"task_id": queued["task_id"], "action": "cancelled", "status": "cancelled"}]
    for loser in (a for a in queued_answers if a.status_code != 200):
        refused(loser)
    won = [a.json() for a in running_answers if a.status_code == 200]
    assert won == [{"task_id": running["task_id"], "action": "deleted", "status": "deleted"}]
    for loser in (a for a in running_answers if a.status_code != 200):
        reason = refused(loser)
        assert "has started" in reason or reason == "invalid task_id", reason

    assert v2.task(queued["task_id"])["status"] == "cancelled"
    assert refused(v2.query(running["task_id"])) == "invalid task_id"  # gone from view
    time.sleep(2.5)  # the tracker polls the upstream's "cancelled": it must move nothing
    entries = ledger_of(gateway, tenant.account_id)
    reserved = moves(entries, queued["platform_id"])["reserve"]
    assert moves(entries, queued["platform_id"]) == {"reserve": reserved, "refund": -reserved}
    charged = moves(entries, running["platform_id"])
    assert set(charged) <= {"reserve", "capture", "settle"} and "capture" in charged
    assert charged["capture"] == 0 and sum(charged.values()) < 0
    with Operator(gateway) as op:
        assert op.balance(tenant.account_id) == sum(e["amount"] for e in entries)


@pytest.fixture(scope="module")
def slow_poller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A gateway that polls its upstream every 8 s: its view of a task lags the
    upstream's (a fast sandbox finishes in about 2 s), as a real gateway's may between
    polls when no push reaches it."""
    with gateway_process(
        tmp_path_factory.mktemp("slow-poller"),
        REELGATE_POLL_INITIAL_S="8",
        REELGATE_POLL_MAX_S="8",
    ) as srv:
        yield srv


def test_a_delete_on_a_stale_queued_view_never_deletes_the_upstreams_result(
    slow_poller: Server,
) -> None:
    client = V2(slow_poller.url, API_KEY)
    upstream = httpx.Client(
        base_url=slow_poller.url + "/sandbox/v2",
        headers={"Authorization": f"Bearer {SANDBOX_KEY}"},
        trust_env=False,
    )
    with client.http, upstream:
        made = client.create(CHEAP)
        path = f"/query/video_generation/{made['task_id']}"
        while upstream.get(path).json()["task"]["status"] != "succeeded":
            time.sleep(0.05)
        # the gateway's view lags (it polls every 8 s): it still shows the task queued
        assert client.task(made["task_id"])["status"] == "queued"
        answer = client.delete(made["task_id"])
        # the upstream's finished record must outlive a DELETE the gateway refuses...
        if answer.status_code != 200:
            assert upstream.get(path).status_code == 200, (answer.text, upstream.get(path).text)
            # ...and the task end as the success it was
            done = client.wait(made["task_id"], timeout=30)
            assert done["status"] == "succeeded", done
            return
        # or the gateway learns the upstream's success first and deletes a finished task
        assert answer.json()["action"] == "deleted", answer.text
        entries = ledger_of(slow_poller, 1)
        assert "capture" in moves(entries, made["platform_id"])
