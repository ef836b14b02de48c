"""The console in a real browser: Debian's headless Chromium, driven by Playwright, against
a live ``reelgate serve`` with the sandbox upstream rendering real MP4s. Sign in, make a
video in the playground and watch it play, cancel one, read a failed task's reason, issue
and revoke a key as the operator, and be refused another account's task. Every page is
photographed at desktop and phone width into build/screenshots/ (checked not blank) and
checked for a label on every control.

Only in the SQLite pass (``once``): the pages are the same on every store, and the store's
side of the console is held by the in-process tests next to this file on both.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from tests.support import ADMIN_TOKEN, API_KEY, MiniMax, Server, fresh_database, service_missing

pytestmark = pytest.mark.once

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
T2V = {"model": "T2V-01", "prompt": "a paper boat on a pond [Pan right]"}
WAIT_MS = 45_000  # a render on a busy CI machine

# Each visible form control with no label (own <label>, aria-label or aria-labelledby).
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !e.getAttribute('aria-labelledby'))
  .map(e => e.name || e.id)"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("console-browser")
    with fresh_database(data_dir) as url:
        # long enough to cancel a task from its page, short enough to watch one finish
        env = {"REELGATE_SANDBOX_TIMINGS": "1,1,2", "REELGATE_SWEEP_INTERVAL_S": "0.5"}
        srv = Server(data_dir, url, env=env).start()
        yield srv
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        service_missing(f"no Chromium at {CHROMIUM} (scripts/ensure-chromium installs it)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def sign_in(page: Any, server: Server, credential: str, home: str) -> None:
    """With the keyboard only: the field has focus, Enter submits."""
    page.goto(server.url + "/console/login")
    shoot(page, "login")
    assert page.evaluate("document.activeElement.id") == "credential"  # autofocus
    page.keyboard.type(credential)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{home}")
    assert credential not in page.url
    page.keyboard.press("Tab")  # on every page the first stop is the skip link
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"


def until(check: Callable[[], bool], message: str, timeout: float = 15.0) -> None:
    """Poll from here: the pages' CSP (rightly) forbids the eval that wait_for_function uses."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


def nav(page: Any, name: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()
    page.wait_for_load_state()


def shoot(page: Any, name: str) -> None:
    """The page at both widths, each checked not blank, and its controls all labelled."""
    assert page.evaluate(UNLABELLED) == [], f"{name}: controls without a label"
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        path = SHOTS / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        with Image.open(path) as img:
            colours = img.convert("RGB").getcolors(maxcolors=4096)
        assert colours is None or len(colours) > 8, f"{path.name} is (nearly) one colour"
    page.set_viewport_size(VIEWPORTS["desktop"])


def create(server: Server, key: str = API_KEY) -> dict[str, Any]:
    with MiniMax(server.url + "/minimaxi", key) as mm:
        made = mm.create(T2V)
    assert made["base_resp"]["status_code"] == 0, made
    return made


def set_faults(server: Server, faults: str) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    resp = httpx.put(
        server.url + "/sandbox/_control/faults", json={"faults": faults}, headers=headers
    )
    assert resp.status_code == 200, resp.text


def test_make_a_video_in_the_playground_and_watch_it_play(page: Any, server: Server) -> None:
    sign_in(page, server, API_KEY, "/console/tasks")
    nav(page, "Playground")
    page.get_by_label("Model", exact=True).select_option("T2V-01")  # htmx redraws the choices
    expect(page.get_by_label("Resolution", exact=True)).to_have_value("720P")
    assert "Price: 0." in page.locator("#price").inner_text()
    page.get_by_label("Prompt", exact=True).fill("a paper boat on a pond [Pan right]")
    shoot(page, "playground")
    page.get_by_role("button", name="Make the video").click()
    page.wait_for_url("**/console/tasks/video_*")
    assert page.evaluate("""document.createElement('video')
        .canPlayType('video/mp4; codecs="avc1.42E01E"')""")
    # followed live over the event stream; the card with the video is swapped in at the end
    video = page.locator("video#video")
    video.wait_for(timeout=WAIT_MS)
    assert page.locator("[data-status]").inner_text() == "succeeded"
    duration = video.evaluate(
        """async v => { v.muted = true;
             if (v.readyState < 1) await new Promise(r => v.addEventListener('loadedmetadata', r));
             await v.play(); return v.duration; }"""
    )
    assert 5.5 < duration < 6.5
    until(lambda: video.evaluate("v => v.currentTime") > 0.5, "the video does not advance")
    shoot(page, "task-succeeded")
    page.get_by_role("link", name="All tasks").click()
    page.locator("tbody tr").first.wait_for()
    assert page.locator("tbody tr video").count() >= 1
    shoot(page, "tasks")
    nav(page, "Usage")
    assert page.locator("svg.chart").count() == 2
    shoot(page, "usage")


def test_cancel_a_task_from_its_page(page: Any, server: Server) -> None:
    sign_in(page, server, API_KEY, "/console/tasks")
    made = create(server)  # about 4 s from finishing: Preparing 1, Queueing 1, Processing 2
    page.goto(f"{server.url}/console/tasks/{made['platform_id']}")
    page.get_by_role("button", name="Cancel this task").click()
    page.get_by_text("was cancelled and refunded").wait_for()
    assert page.locator("[data-status]").inner_text() == "cancelled"
    assert "cancelled before it finished" in page.locator(".failure .reason").inner_text()


def test_find_a_failed_tasks_reason(page: Any, server: Server) -> None:
    set_faults(server, "fail_midway=1")  # decided at create, kept by the task
    try:
        made = create(server)
    finally:
        set_faults(server, "")
    sign_in(page, server, API_KEY, "/console/tasks")
    page.goto(f"{server.url}/console/tasks/{made['task_id']}")  # the upstream id works too
    reason = page.locator(".failure .reason")
    reason.wait_for(timeout=WAIT_MS)
    assert "content filter refused the finished video" in reason.inner_text()
    assert "1027" in page.locator(".failure").inner_text()
    shoot(page, "task-failed")


def test_issue_and_revoke_a_key_as_the_operator(page: Any, server: Server) -> None:
    sign_in(page, server, ADMIN_TOKEN, "/console/admin")
    shoot(page, "admin-dashboard")
    nav(page, "Accounts")
    page.get_by_label("Name", exact=True).fill("Acme")
    page.get_by_label("Initial credit (minor units, e.g. cents)", exact=True).fill("500")
    page.get_by_role("button", name="Create the account").click()
    page.get_by_role("heading", name="Acme").wait_for()
    shoot(page, "admin-accounts-created")
    page.get_by_label("Name", exact=True).fill("ci")
    page.get_by_label("Requests per minute", exact=True).fill("60")
    page.get_by_role("button", name="Issue the key").click()
    key = page.get_by_label("API key", exact=True).input_value()
    assert key.startswith("sk-")
    shoot(page, "admin-account-key-issued")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as api:
        assert api.get("/v1/tasks").status_code == 200
        page.get_by_role("button", name="Revoke key ci").click()
        page.get_by_text("was revoked").wait_for()
        assert api.get("/v1/tasks").status_code == 401
    assert key not in server.log()  # never in a URL, never in a log line
    nav(page, "Channels")
    assert page.get_by_text("healthy").count() >= 1
    shoot(page, "admin-channels")
    nav(page, "Prices")
    shoot(page, "admin-prices")
    nav(page, "Accounts")
    shoot(page, "admin-accounts")


def test_another_accounts_task_is_refused(page: Any, server: Server) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=server.url + "/admin/v1", headers=headers) as admin:
        account = admin.post("/accounts", json={"name": "other", "initial_credit": 1000}).json()
        key = admin.post(f"/accounts/{account['id']}/keys", json={"name": "k"}).json()["key"]
    theirs = create(server, key)
    sign_in(page, server, API_KEY, "/console/tasks")
    answer = page.goto(f"{server.url}/console/tasks/{theirs['platform_id']}")
    assert answer is not None and answer.status == 404
    assert page.get_by_role("heading", name="Not found").is_visible()
    shoot(page, "not-found")
    page.goto(server.url + "/console/tasks")
    assert theirs["platform_id"] not in page.content()
    answer = page.goto(server.url + "/console/admin")
    assert answer is not None and answer.status == 403  # an API key is not the operator
