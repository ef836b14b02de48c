"""``openai-poll-after-ms`` on a retrieve, from the tracker's schedule: until the gateway
next polls the task (plus a round trip), within 1 s and the tracker's longest interval,
and none once the task is finished. A gateway of its own whose tracker polls first after
5 s and at most every 30 s, so that the hint lies between its bounds."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from reelgate.surfaces.openai.views import MIN_POLL_AFTER_MS, POLL_MARGIN_MS
from tests.inprocess.harness import InProcess, in_process
from tests.support import API_KEY, fresh_database

pytestmark = pytest.mark.asyncio(loop_scope="module")
HEADER = "openai-poll-after-ms"
LONGEST_S = 30.0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcess]:
    data_dir = tmp_path_factory.mktemp("openai-poll")
    with fresh_database(data_dir) as url:
        async with in_process(data_dir, url, poll_initial_s=5.0, poll_max_s=LONGEST_S) as gw:
            yield gw


async def test_the_hint_is_the_trackers_next_poll_then_its_cap_then_none(
    gateway: InProcess,
) -> None:
    account = (await gateway.gw.auth.api_key(API_KEY)).account_id
    async with gateway.client() as http:
        video = (await http.post("/v1/videos", json={"prompt": "a kite"})).json()
        before = datetime.now(UTC)
        resp = await http.get(f"/v1/videos/{video['id']}")
        after = datetime.now(UTC)
        task = await gateway.gw.task_service.get(account, video["id"])
        assert task.next_poll_at is not None
        hint = int(resp.headers[HEADER])
        low = (task.next_poll_at - after).total_seconds() * 1000 + POLL_MARGIN_MS
        high = (task.next_poll_at - before).total_seconds() * 1000 + POLL_MARGIN_MS
        assert math.floor(low) <= hint <= math.ceil(high)
        assert MIN_POLL_AFTER_MS < hint < LONGEST_S * 1000  # neither bound: the schedule

        # polled (by a tracker whose clock ran 40 s ahead): its next poll is far off
        gateway.upstream.start(task.upstream_task_id or "")
        gateway.upstream.clock.advance(40)
        assert await gateway.gw.tracker.poll_due() == 1
        running = await http.get(f"/v1/videos/{video['id']}")
        assert running.json()["status"] == "in_progress"
        assert running.headers[HEADER] == str(int(LONGEST_S * 1000))

        gateway.upstream.succeed(task.upstream_task_id or "")
        gateway.upstream.clock.advance(40)
        assert await gateway.gw.tracker.poll_due() == 1
        done = await http.get(f"/v1/videos/{video['id']}")
        assert done.json()["status"] == "completed" and HEADER not in done.headers
