"""Billing by the second through the gateway (MiniMax-H3 on the v2 surface, the fake
upstream): a task reserves its quote at create, settles at the seconds the upstream
billed when it succeeds (the rest given back once), and a cancelled or failed one is
refunded in full. The shipped price table: H3 at 768P is 8 a second, 5 images free."""

from __future__ import annotations

from typing import Any

import pytest

from reelgate.domain.tasks import Usage
from tests.inprocess.harness import InProcess
from tests.inprocess.operator import Operator

pytestmark = pytest.mark.asyncio(loop_scope="module")

CREDIT = 1000
# 6 s of output and a reference video by URL, whose length is unknown: 15 s reserved
RESERVED = 8 * (6 + 15)
H3_REFERENCES = {
    "model": "MiniMax-H3",
    "resolution": "768P",
    "duration": 6,
    "content": [
        {"type": "text", "text": "The dancer from image 1 moves like video 1."},
        {
            "type": "image_url",
            "image_url": {"url": "https://example.com/face.png"},
            "role": "reference_image",
        },
        {
            "type": "video_url",
            "video_url": {"url": "https://example.com/moves.mp4"},
            "role": "reference_video",
        },
    ],
}


async def h3_task(gateway: InProcess, key: str) -> dict[str, Any]:
    async with gateway.client(key, "/minimaxi/v2") as v2:
        made = await v2.post("/video_generation", json=H3_REFERENCES)
    assert made.status_code == 200, made.text
    return dict(made.json())


async def platform_view(gateway: InProcess, key: str, platform_id: str) -> dict[str, Any]:
    async with gateway.client(key) as http:
        return dict((await http.get(f"/v1/tasks/{platform_id}")).json())


async def movements(op: Operator, account_id: int, platform_id: str) -> list[tuple[str, int]]:
    entries = [e for e in await op.ledger(account_id) if e["platform_id"] == platform_id]
    return [(e["kind"], e["amount"]) for e in reversed(entries)]  # oldest first


async def test_a_settled_h3_task_costs_the_seconds_billed(gateway: InProcess) -> None:
    async with Operator(gateway) as op:
        account, key = await op.client(CREDIT)
        made = await h3_task(gateway, key["key"])
        assert await op.balance(account) == CREDIT - RESERVED
        running = await platform_view(gateway, key["key"], made["platform_id"])
        assert (running["price"], running["charged"]) == (RESERVED, 0)

        # the clip ran 3 s: 6 + 3 seconds at 8, one image (free)
        billed = Usage(output_seconds=6, input_seconds=3, input_image_count=1)
        gateway.upstream.succeed(made["task_id"], 1344, 768, usage=billed)
        await gateway.track()

        assert await op.balance(account) == CREDIT - 72
        assert await movements(op, account, made["platform_id"]) == [
            ("reserve", -RESERVED),
            ("capture", 0),
            ("settle", RESERVED - 72),
        ]
        await gateway.track()  # polled again: nothing moves twice
        assert await op.balance(account) == CREDIT - 72
    done = await platform_view(gateway, key["key"], made["platform_id"])
    assert (done["status"], done["price"], done["charged"]) == ("succeeded", 72, 72)
    async with gateway.client(key["key"], "/minimaxi/v2") as v2:
        task = (await v2.get(f"/query/video_generation/{made['task_id']}")).json()["task"]
    assert task["usage"] == billed.as_dict()


async def test_without_a_usage_the_reservation_is_the_charge(gateway: InProcess) -> None:
    async with Operator(gateway) as op:
        account, key = await op.client(CREDIT)
        made = await h3_task(gateway, key["key"])
        await gateway.finish(made["task_id"])  # a success that reports no usage
        assert await op.balance(account) == CREDIT - RESERVED
        assert await movements(op, account, made["platform_id"]) == [
            ("reserve", -RESERVED),
            ("capture", 0),
        ]


async def test_a_cancelled_or_failed_h3_task_is_refunded_in_full(gateway: InProcess) -> None:
    async with Operator(gateway) as op:
        account, key = await op.client(CREDIT)
        queued = await h3_task(gateway, key["key"])
        failing = await h3_task(gateway, key["key"])
        assert await op.balance(account) == CREDIT - 2 * RESERVED

        async with gateway.client(key["key"], "/minimaxi/v2") as v2:
            deleted = await v2.delete(f"/video_generation/{queued['task_id']}")
        assert deleted.status_code == 200, deleted.text
        gateway.upstream.fail(failing["task_id"], 1000, "generation failed")
        await gateway.track()

        assert await op.balance(account) == CREDIT
        for made in (queued, failing):
            assert await movements(op, account, made["platform_id"]) == [
                ("reserve", -RESERVED),
                ("refund", RESERVED),
            ]
