"""The console's pieces that need no browser: the playground follows the model catalog
(only valid combinations, the price from the price table), creates tasks through the
same validation as the API, sessions are bounded, and failures read in plain words."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from reelgate.console.catalog import model_options, select
from reelgate.console.reasons import plain_reason
from reelgate.console.sessions import Role, SessionStore
from reelgate.domain.catalog import MODELS
from reelgate.domain.pricing import PriceTable
from reelgate.domain.tasks import FailureReason, Task, TaskStatus
from tests.browser.console import Browser
from tests.inprocess.harness import InProcess
from tests.support import API_KEY, image_bytes


def sample_task(
    status: TaskStatus, error_code: int | None = None, error_reason: str | None = None
) -> Task:
    now = datetime.now(UTC)
    return Task(
        id=1,
        platform_id="video_01TEST",
        account_id=1,
        api_key_id=None,
        model="T2V-01",
        mode="t2v",
        status=status,
        upstream_status=None,
        upstream_task_id="1",
        channel="sandbox",
        request={},
        duration=6,
        resolution="720P",
        created_at=now,
        updated_at=now,
        finished_at=now,
        deadline_at=now,
        error_code=error_code,
        error_message="output new_sensitive" if error_code else None,
        error_reason=error_reason,
        file=None,
    )


def options(html: str, select_id: str) -> tuple[list[str], str | None]:
    """The option values of one <select> and the selected one."""
    block = re.search(rf'id="{select_id}".*?</select>', html, re.S)
    assert block, select_id
    values = re.findall(r"<option(?: value=\"([^\"]*)\")?( selected)?>([^<]*)<", block.group(0))
    names = [v or text.split(" (")[0] for v, _, text in values]
    chosen = next((v or text for v, sel, text in values if sel), None)
    return names, chosen


def test_select_falls_back_to_what_the_catalog_allows() -> None:
    hailuo = select("MiniMax-Hailuo-2.3", "t2v", "1080P", 10)
    assert (hailuo.resolution, hailuo.durations, hailuo.duration) == ("1080P", (6,), 6)
    assert select("MiniMax-Hailuo-2.3", "t2v", "768P", 10).duration == 10
    legacy = select("T2V-01", "i2v", "1080P", 10)  # none of these exist for T2V-01
    assert (legacy.mode.mode, legacy.resolution, legacy.duration) == ("t2v", "720P", 6)
    assert select("no-such-model").model.name == model_options()[0].name
    assert select("MiniMax-Hailuo-02", "fl2v").mode.images == ("first_frame", "last_frame")
    assert select("S2V-01").mode.images == ("subject",)
    # every combination the form can show is one the catalog allows
    for model in model_options():
        for mode, opt in model.modes.items():
            rules = next(r for m, r in MODELS[model.name].modes.items() if m.value == mode)
            assert dict(opt.grid) == dict(rules.grid)


def test_the_session_store_is_bounded_in_number_and_age() -> None:
    now = [0.0]
    store = SessionStore(idle_s=10, max_age_s=25, max_sessions=3, clock=lambda: now[0])
    first, *rest = [store.start() for _ in range(3)]
    assert len(store) == 3 and store.get(first.id) is first
    store.start()  # one past the bound: the oldest goes
    assert len(store) == 3 and store.get(first.id) is None
    kept = rest[0]
    now[0] = 10.0  # idle exactly the limit: still open
    assert store.get(kept.id) is kept
    now[0] = 20.01  # idle just past it since the last use at 10
    assert store.get(kept.id) is None
    user = store.start(Role.USER, "hash")
    for t in (30.0, 40.0, 45.0):  # used within idle_s each time, but 25 s old at 45
        now[0] = t
        assert (store.get(user.id) is None) == (t - 20.01 > 25)


@pytest.mark.parametrize(
    ("status", "code", "reason", "expected"),
    [
        (TaskStatus.FAILED, 1027, FailureReason.UPSTREAM_FAILED, "refused the finished video"),
        (TaskStatus.FAILED, 1026, FailureReason.UPSTREAM_REFUSED, "refused the prompt or an image"),
        (TaskStatus.FAILED, None, FailureReason.DEADLINE_EXCEEDED, "before its deadline"),
        (TaskStatus.CANCELLED, None, FailureReason.CANCELLED, "cancelled before it finished"),
        (TaskStatus.FAILED, None, FailureReason.LOST, "lost track of it"),
    ],
)
def test_failures_read_in_plain_words(
    status: TaskStatus, code: int | None, reason: FailureReason, expected: str
) -> None:
    task = sample_task(status=status, error_code=code, error_reason=reason.value)
    text = plain_reason(task)
    assert text is not None and expected in text and "refunded" in text
    assert plain_reason(sample_task(status=TaskStatus.SUCCEEDED)) is None


@pytest.mark.asyncio(loop_scope="module")
async def test_the_playground_form_follows_the_catalog_and_shows_the_price(
    gateway: InProcess,
) -> None:
    prices = PriceTable.load(gateway.gw.settings.prices_file)
    async with Browser(gateway) as tab:
        await tab.sign_in(API_KEY)
        query = "model=MiniMax-Hailuo-2.3&mode=t2v&resolution=1080P&duration=10"
        html = (await tab.page(f"/console/playground/choices?{query}")).text
        assert options(html, "p-resolution") == (["768P", "1080P"], "1080P")
        assert options(html, "p-duration") == (["6"], "6")  # 10 s is not made at 1080P
        price = prices.prices[("MiniMax-Hailuo-2.3", "1080P", 6)]
        assert f"{price / 100:.2f} {prices.currency}" in html
        query = "model=MiniMax-Hailuo-02&mode=fl2v"
        html = (await tab.page(f"/console/playground/choices?{query}")).text
        assert options(html, "p-mode")[0] == ["t2v", "i2v", "fl2v"]
        shown = re.findall(r'<div class="field image"( hidden)?>\s*<label for="p-(\w+)"', html)
        assert shown == [("", "first_frame"), ("", "last_frame"), (" hidden", "subject")]
        html = (await tab.page("/console/playground?model=T2V-01")).text
        assert options(html, "p-resolution") == (["720P"], "720P")


@pytest.mark.asyncio(loop_scope="module")
async def test_the_playground_creates_tasks_like_the_api(gateway: InProcess) -> None:
    async with Browser(gateway) as tab:
        await tab.sign_in(API_KEY)
        await tab.page("/console/playground")
        form = {"model": "MiniMax-Hailuo-02", "mode": "i2v", "resolution": "512P", "duration": "6"}
        resp = await tab.post("/console/playground", {**form, "prompt": "a cat"})
        assert resp.status_code == 400 and "needs an image" in resp.text  # no file chosen
        png = image_bytes(640, 360)
        files = {"first_frame": ("frame.png", png, "image/png")}
        resp = await tab.post("/console/playground", {**form, "prompt": "a cat"}, files=files)
        assert resp.status_code == 303, resp.text
        platform_id = resp.headers["location"].rsplit("/", 1)[1]
        async with gateway.client(API_KEY) as api:
            task = (await api.get(f"/v1/tasks/{platform_id}")).json()
        made = (task["model"], task["mode"], task["resolution"])
        assert made == ("MiniMax-Hailuo-02", "i2v", "512P")
        # the API's own validation, in its own words: an empty text-to-video prompt
        await tab.page("/console/playground")
        t2v = {"model": "T2V-01", "mode": "t2v", "resolution": "720P", "duration": "6"}
        resp = await tab.post("/console/playground", {**t2v, "prompt": "  "})
        assert resp.status_code == 400 and "prompt" in resp.text
