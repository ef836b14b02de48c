"""Redis-backed limits and live events: the exact sliding window shared by several
limiters, the fallback when Redis is gone, and the fan-out of changes between processes
(two subscribers here, each with its own client and bus, as two replicas would have)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from reelgate.services.events import EventBus
from reelgate.services.redis_events import RedisEventFanout
from reelgate.services.redis_limits import RedisRateLimiter
from tests.support import free_port, redis_test_url, service_missing

# The store plays no part: one pass is enough.
pytestmark = [pytest.mark.once]


def client(url: str | None = None) -> Redis:
    return Redis.from_url(url or redis_test_url(), socket_timeout=2, socket_connect_timeout=2)


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are removed afterwards."""
    redis = client()
    try:
        await redis.ping()
    except (RedisError, OSError) as exc:
        await redis.aclose()
        service_missing(f"Redis is not reachable at {redis_test_url()}: {exc}")
    name = f"rgtest:{uuid.uuid4().hex[:12]}:"
    try:
        yield name
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{name}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


@pytest.fixture
async def clients() -> AsyncIterator[tuple[Redis, Redis]]:
    """Two connections, as two replicas would each have."""
    first, second = client(), client()
    yield first, second
    await first.aclose()
    await second.aclose()


async def test_exact_sliding_window(prefix: str, clients: tuple[Redis, Redis]) -> None:
    limiter = RedisRateLimiter(clients[0], prefix=prefix)
    window = 1.0
    t0 = time.monotonic()
    assert await limiter.allow("k", 3, window)  # t0
    await asyncio.sleep(0.3)
    assert await limiter.allow("k", 3, window)  # t0+0.3
    await asyncio.sleep(0.3)
    assert await limiter.allow("k", 3, window)  # t0+0.6
    assert not await limiter.allow("k", 3, window)  # the N+1th inside the window
    assert await limiter.used("k", window) == 3
    # A refused request is not counted: the first hit leaving frees exactly one slot.
    await asyncio.sleep(max(0.0, t0 + 1.15 - time.monotonic()))
    assert await limiter.used("k", window) == 2
    assert await limiter.allow("k", 3, window)
    assert not await limiter.allow("k", 3, window)  # a sliding window, not a fixed one
    await asyncio.sleep(max(0.0, t0 + 1.45 - time.monotonic()))
    assert await limiter.allow("k", 3, window)  # the second hit left at t0+1.3
    assert not await limiter.allow("k", 3, window)
    # other keys have windows of their own
    assert await limiter.allow("other", 1, window)


async def test_two_limiters_share_one_window(prefix: str, clients: tuple[Redis, Redis]) -> None:
    one = RedisRateLimiter(clients[0], prefix=prefix)
    two = RedisRateLimiter(clients[1], prefix=prefix)
    answers = [await (one if i % 2 else two).allow("rpm:1", 5, 60) for i in range(8)]
    assert answers == [True] * 5 + [False] * 3
    assert await one.used("rpm:1", 60) == await two.used("rpm:1", 60) == 5


async def test_racing_limiters_admit_exactly_the_limit(
    prefix: str, clients: tuple[Redis, Redis]
) -> None:
    limiters = [RedisRateLimiter(c, prefix=prefix) for c in clients]
    answers = await asyncio.gather(
        *(limiters[i % 2].allow("channel:sb", 20, 60) for i in range(60))
    )
    assert sum(answers) == 20


async def test_without_redis_the_limiter_falls_back_to_this_process() -> None:
    dead = client(f"redis://127.0.0.1:{free_port()}/0")
    limiter = RedisRateLimiter(dead, prefix="rgtest:dead:", retry_s=60)
    try:
        started = time.monotonic()
        answers = [await limiter.allow("rpm:1", 3, 60) for _ in range(5)]
        assert answers == [True, True, True, False, False]  # limited, per process
        assert await limiter.used("rpm:1", 60) == 3
        # one failed call marks Redis down; the others do not wait on it again
        assert time.monotonic() - started < 1.5
    finally:
        await dead.aclose()


async def subscribed(redis: Redis, channel: str, count: int) -> None:
    for _ in range(100):
        numsub = dict(await redis.pubsub_numsub(channel))
        if numsub.get(channel.encode(), 0) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the subscribers never subscribed")


async def test_changes_fan_out_to_every_other_process(
    prefix: str, clients: tuple[Redis, Redis]
) -> None:
    bus_a, bus_b = EventBus(), EventBus()
    a = RedisEventFanout(clients[0], bus_a, prefix=prefix)
    b = RedisEventFanout(clients[1], bus_b, prefix=prefix)
    loops = [
        asyncio.create_task(coro)
        for coro in (
            a.publish_forever(),
            a.subscribe_forever(),
            b.publish_forever(),
            b.subscribe_forever(),
        )
    ]
    try:
        await subscribed(clients[0], a.channel, 2)

        async def wait_on(bus: EventBus, task_id: int) -> float:
            started = time.monotonic()
            await bus.wait(task_id, 5.0)
            return time.monotonic() - started

        # a change recorded in A wakes B's waiter (and A's own, locally)
        waiting = [asyncio.create_task(wait_on(bus, 7)) for bus in (bus_a, bus_b)]
        await asyncio.sleep(0.05)
        a.notify(7)
        assert max(await asyncio.gather(*waiting)) < 0.5
        # and the other way round; a waiter on another task sleeps on
        waiting = [asyncio.create_task(wait_on(bus_a, 8)), asyncio.create_task(wait_on(bus_a, 9))]
        await asyncio.sleep(0.05)
        b.notify(8)
        done, pending = await asyncio.wait(waiting, timeout=1.0)
        assert done == {waiting[0]} and waiting[0].result() < 0.5
        for task in pending:
            task.cancel()
    finally:
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)


async def test_without_redis_changes_still_wake_this_process() -> None:
    dead = client(f"redis://127.0.0.1:{free_port()}/0")
    bus = EventBus()
    fanout = RedisEventFanout(dead, bus, prefix="rgtest:dead:")
    publisher = asyncio.create_task(fanout.publish_forever())
    try:
        waiter = asyncio.create_task(bus.wait(3, 5.0))
        await asyncio.sleep(0.02)
        fanout.notify(3)  # never raises, whatever Redis does
        await asyncio.wait_for(waiter, 0.5)
        await asyncio.sleep(0.2)
        assert not publisher.done()  # the publisher outlives Redis errors
    finally:
        publisher.cancel()
        await asyncio.gather(publisher, return_exceptions=True)
        await dead.aclose()
