"""The callback dispatcher over the fake WebhookSender and the real outbox (the store of
the pass: SQLite, or PostgreSQL with REELGATE_TEST_DATABASE), on a clock the test moves:
2xx delivers, anything else but 410 is retried on the backoff schedule and no sooner than
the receiver's Retry-After, 410 stops, a refused URL is given up at once, the window
ends the retries, and every attempt is signed. No socket, no sleep."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from reelgate.domain.deliveries import Delivery
from reelgate.domain.tasks import VideoFile
from reelgate.domain.webhooks import RetrySchedule, new_secret, verify
from reelgate.providers.fake import FakeClock
from reelgate.providers.fake_webhooks import FakeWebhooks
from reelgate.services.callbacks import Dispatcher
from reelgate.store import database
from reelgate.store.accounts import AccountStore
from reelgate.store.deliveries import DeliveryStore
from reelgate.store.tasks import TaskStore
from tests.support import migrated_database, new_task

URL = "https://hooks.example/cb"
FIRST_S = 5.0
WINDOW_S = 3600.0
# Each test's deliveries are due from its own start: a test that claims what is due
# starts before every other test's deliveries, so it claims only its own.
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
EARLIER = datetime(2020, 1, 1, 12, 0, tzinfo=UTC)


@dataclass
class Outbox:
    tasks: TaskStore
    deliveries: DeliveryStore
    accounts: AccountStore
    hooks: FakeWebhooks
    clock: FakeClock

    def dispatcher(self, window_s: float = WINDOW_S) -> Dispatcher:
        schedule = RetrySchedule(first_s=FIRST_S, window_s=window_s, jitter=0.0)
        return Dispatcher(
            store=self.deliveries, sender=self.hooks, schedule=schedule, clock=self.clock.now
        )

    async def queued(self, at: datetime = T0, url: str = URL) -> Delivery:
        """A task with a callback URL taken by the upstream at ``at``: its first callback."""
        account = await self.accounts.create_account(f"hooks-{uuid.uuid4().hex[:8]}")
        task = await self.tasks.insert(replace(new_task(account.id), callback_url=url), at)
        assert await self.tasks.mark_submitted(task.id, f"up-{task.id}", at, at) is not None
        (delivery,) = await self.deliveries.for_task(task.id)
        return delivery

    async def now(self, delivery: Delivery) -> Delivery:
        (found,) = [
            d for d in await self.deliveries.for_task(delivery.task_id) if d.id == delivery.id
        ]
        return found


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_database(tmp_path_factory.mktemp("deliveries")) as url:
        yield url


@pytest.fixture
async def outbox(database_url: str) -> AsyncIterator[Outbox]:
    engine = database.create_engine(database_url)
    try:
        yield Outbox(
            TaskStore(engine),
            DeliveryStore(engine),
            AccountStore(engine),
            FakeWebhooks(),
            FakeClock(start=T0),
        )
    finally:
        await engine.dispose()


def seconds(at: datetime, since: datetime) -> float:
    return (at - since).total_seconds()


@pytest.mark.parametrize(
    ("status", "delivered"),
    [(199, False), (200, True), (204, True), (299, True), (300, False), (409, False),
     (411, False), (500, False), (503, False)],
)  # fmt: skip
async def test_a_2xx_delivers_and_any_other_status_but_410_is_retried(
    outbox: Outbox, status: int, delivered: bool
) -> None:
    delivery = await outbox.queued()
    outbox.hooks.status_next(status)
    await outbox.dispatcher().deliver(delivery)
    after = await outbox.now(delivery)
    assert (after.attempts, after.last_status) == (1, status)
    if delivered:
        assert after.state == "delivered" and after.delivered_at is not None
    else:
        assert (after.state, after.last_error) == ("pending", f"HTTP {status}")
        assert seconds(after.next_attempt_at, T0) == FIRST_S


async def test_retries_back_off_and_a_later_attempt_delivers(outbox: Outbox) -> None:
    outbox.clock = FakeClock(start=EARLIER)
    dispatcher = outbox.dispatcher()
    delivery = await outbox.queued(at=EARLIER)
    outbox.hooks.status_next(503, times=2)
    assert await dispatcher.deliver_due() == 1  # 503: again in 5 s
    outbox.clock.advance(FIRST_S - 0.001)
    assert await dispatcher.deliver_due() == 0  # not due yet
    outbox.clock.advance(0.001)
    assert await dispatcher.deliver_due() == 1  # 503: again in 10 s
    outbox.clock.advance(2 * FIRST_S - 0.001)
    assert await dispatcher.deliver_due() == 0
    outbox.clock.advance(0.001)
    assert await dispatcher.deliver_due() == 1  # 200
    after = await outbox.now(delivery)
    assert (after.state, after.attempts, after.last_status) == ("delivered", 3, 200)
    ids = {p.headers["webhook-id"] for p in outbox.hooks.posted}
    assert ids == {delivery.msg_id} and len(outbox.hooks.posted) == 3


@pytest.mark.parametrize(
    ("retry_after", "wait_s"),
    [
        ("4", FIRST_S),  # sooner than the backoff: the backoff stands
        ("5", FIRST_S),
        ("6", 6.0),  # later: the receiver's wish is a minimum
        ("120", 120.0),
        ("-3", FIRST_S),
        ("Wed, 21 Oct 2015 07:28:00 GMT", FIRST_S),  # a date: the schedule decides
    ],
)
async def test_a_receivers_retry_after_is_honoured(
    outbox: Outbox, retry_after: str, wait_s: float
) -> None:
    delivery = await outbox.queued()
    outbox.hooks.status_next(429, {"retry-after": retry_after})
    await outbox.dispatcher().deliver(delivery)
    after = await outbox.now(delivery)
    assert after.state == "pending" and seconds(after.next_attempt_at, T0) == wait_s


async def test_410_stops_this_and_the_tasks_later_callbacks(outbox: Outbox) -> None:
    delivery = await outbox.queued()
    outbox.hooks.status_next(410)
    await outbox.dispatcher().deliver(delivery)
    after = await outbox.now(delivery)
    assert (after.state, after.attempts, after.last_status) == ("gone", 1, 410)
    file = VideoFile(file_id="7", width=1280, height=720, bytes=3)
    assert await outbox.tasks.record_success(delivery.task_id, file, T0) is not None
    later = (await outbox.deliveries.for_task(delivery.task_id))[-1]
    assert later.id != delivery.id and later.state == "gone"


@pytest.mark.parametrize("count", [0, 1, 2])
async def test_every_attempt_is_signed_with_each_active_secret(outbox: Outbox, count: int) -> None:
    delivery = await outbox.queued()
    secrets_ = [new_secret() for _ in range(count)]
    for secret in secrets_:
        await outbox.deliveries.rotate_secret(delivery.account_id, secret, T0, timedelta(hours=1))
    outbox.clock.advance(1.5)
    await outbox.dispatcher().deliver(delivery)
    (posted,) = outbox.hooks.posted
    assert posted.url == URL and posted.timeout_s == 15.0
    assert posted.json() == delivery.body and b" " not in posted.body
    assert posted.headers["content-type"] == "application/json"
    assert posted.headers["webhook-id"] == delivery.msg_id
    timestamp = int(T0.timestamp()) + 1
    assert posted.headers["webhook-timestamp"] == str(timestamp)
    header = posted.headers.get("webhook-signature")
    if not secrets_:
        assert header is None
        return
    assert header is not None and len(header.split()) == count
    for secret in secrets_:
        assert verify(secret, delivery.msg_id, timestamp, posted.body, header)
    assert not verify(new_secret(), delivery.msg_id, timestamp, posted.body, header)


async def test_a_refused_url_is_given_up_at_once(outbox: Outbox) -> None:
    delivery = await outbox.queued()
    reason = "invalid params, 'hooks.example' resolves to 10.0.0.1, a private address"
    outbox.hooks.fail_next("refused", reason)
    await outbox.dispatcher().deliver(delivery)
    after = await outbox.now(delivery)
    assert (after.state, after.attempts, after.last_status, after.last_error) == (
        "failed",
        1,
        None,
        reason,
    )


@pytest.mark.parametrize(
    ("kind", "reason"), [("unreachable", "ConnectError"), ("timeout", "Timeout")]
)
async def test_a_call_that_got_no_answer_is_retried(outbox: Outbox, kind: str, reason: str) -> None:
    delivery = await outbox.queued()
    outbox.hooks.fail_next(kind, reason)  # type: ignore[arg-type]
    await outbox.dispatcher().deliver(delivery)
    after = await outbox.now(delivery)
    assert (after.state, after.last_status, after.last_error) == ("pending", None, reason)
    assert seconds(after.next_attempt_at, T0) == FIRST_S


@pytest.mark.parametrize(("late_s", "state"), [(0.0, "pending"), (0.001, "failed")])
async def test_the_retries_end_with_their_window(outbox: Outbox, late_s: float, state: str) -> None:
    """The next attempt would be at 60 s after the first: still in a 60 s window; a
    millisecond later it is not, and the delivery is given up."""
    delivery = await outbox.queued()
    outbox.clock.advance(60.0 - FIRST_S + late_s)
    outbox.hooks.status_next(503)
    await outbox.dispatcher(window_s=60.0).deliver(delivery)
    after = await outbox.now(delivery)
    assert (after.state, after.last_status, after.last_error) == (state, 503, "HTTP 503")
