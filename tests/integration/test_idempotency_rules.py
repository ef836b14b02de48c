"""Idempotency keys: what is kept, for whom, and for which request (issue 15: a hand-made
mutation run let an expired key that never starts afresh, a fingerprint without the path,
a replayed rate limit and a ``finish()`` without its account filter through).

The store's rules run on the configured database; the request's rules run through the
gateway in this process (``httpx.ASGITransport``), on the same kinds of store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from reelgate.app import create_app
from reelgate.settings import Settings
from reelgate.store import database, tables
from reelgate.store.accounts import AccountStore
from reelgate.store.idempotency import DONE, IN_PROGRESS, IdempotencyStore
from reelgate.store.tasks import TaskStore
from tests.support import ADMIN_TOKEN, API_KEY, fresh_database, migrated_database, new_task

LEASE = timedelta(seconds=30)
TTL = timedelta(hours=24)
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


# -- the store ------------------------------------------------------------------------


@dataclass
class Keys:
    engine: Any
    store: IdempotencyStore
    a: int
    b: int

    async def begin(self, account: int, key: str, owner: str, now: datetime, fp: str = "fp") -> Any:
        return await self.store.begin(account, key, fp, now, now + TTL, owner=owner, lease=LEASE)

    async def rows(self, key: str) -> dict[int, tuple[str, str | None, int | None]]:
        """account -> (state, owner, status code) of this test's rows with this key."""
        k = tables.idempotency_keys.c
        query = select(k.account_id, k.state, k.owner, k.status_code).where(
            k.key == key, k.account_id.in_([self.a, self.b])
        )
        async with self.engine.connect() as conn:
            found = (await conn.execute(query)).all()
        return {r.account_id: (r.state, r.owner, r.status_code) for r in found}


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated database for the module's store tests; each has accounts of its own."""
    with migrated_database(tmp_path_factory.mktemp("idempotency")) as url:
        yield url


@pytest.fixture
async def keys(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Keys]:
    engine = database.create_engine(database_url)
    try:
        accounts = AccountStore(engine)
        name = request.node.name
        a, b = (
            await accounts.create_account(f"{name}-a"),
            await accounts.create_account(f"{name}-b"),
        )
        yield Keys(engine, IdempotencyStore(engine), a.id, b.id)
    finally:
        await engine.dispose()


async def test_an_expired_key_starts_afresh(keys: Keys) -> None:
    assert await keys.begin(keys.a, "k", "first", T0, fp="old request") is None
    assert await keys.store.finish(keys.a, "k", "first", 200, {"task_id": "old"})
    # until it expires, the key is the first request's (a different request is told so)
    kept = await keys.begin(keys.a, "k", "late", T0 + TTL, fp="new request")
    assert kept is not None and kept.fingerprint == "old request" and kept.state == DONE
    # past its expiry the key is free: the new request claims it, with its own fingerprint
    assert await keys.begin(keys.a, "k", "new", T0 + TTL + TICK, fp="new request") is None
    assert await keys.rows("k") == {keys.a: (IN_PROGRESS, "new", None)}
    again = await keys.begin(keys.a, "k", "retry", T0 + TTL + TICK, fp="new request")
    assert again is not None and again.state == IN_PROGRESS


async def test_an_expired_key_of_another_account_is_left_alone(keys: Keys) -> None:
    assert await keys.begin(keys.a, "k", "oa", T0) is None
    assert await keys.begin(keys.b, "k", "ob", T0 + TTL) is None  # expires a day later
    assert await keys.begin(keys.a, "k", "oa2", T0 + TTL + TICK) is None  # a's expired
    assert (await keys.rows("k"))[keys.b] == (IN_PROGRESS, "ob", None)


async def test_finish_renew_and_abandon_touch_only_their_accounts_key(keys: Keys) -> None:
    """Two accounts use the same key; even with the same owner token, a write of one
    account's request never lands on the other's row."""
    assert await keys.begin(keys.a, "same", "owner", T0) is None
    assert await keys.begin(keys.b, "same", "owner", T0) is None
    assert await keys.store.renew(keys.a, "same", "owner", T0 + 2 * LEASE)
    assert await keys.store.finish(keys.a, "same", "owner", 200, {"a": 1})
    assert await keys.rows("same") == {
        keys.a: (DONE, "owner", 200),
        keys.b: (IN_PROGRESS, "owner", None),
    }
    b_row = await keys.begin(keys.b, "same", "probe", T0 + LEASE)
    assert b_row is not None and b_row.lease_until == T0 + LEASE  # a's renewal not on b's
    await keys.store.abandon(keys.a, "same", "owner")  # a's is finished: nothing to forget
    await keys.store.abandon(keys.b, "same", "owner")
    assert await keys.rows("same") == {keys.a: (DONE, "owner", 200)}


async def test_only_the_owner_finishes_and_only_in_progress(keys: Keys) -> None:
    assert await keys.begin(keys.a, "k", "owner", T0) is None
    assert not await keys.store.finish(keys.a, "k", "intruder", 200, {})
    assert not await keys.store.renew(keys.a, "k", "intruder", T0 + LEASE)
    assert await keys.store.finish(keys.a, "k", "owner", 201, {"first": True})
    assert not await keys.store.finish(keys.a, "k", "owner", 500, {"second": True})
    done = await keys.begin(keys.a, "k", "retry", T0)
    assert done is not None and (done.status_code, done.response) == (201, {"first": True})


async def test_the_purge_removes_expired_keys_only(keys: Keys) -> None:
    # long before the other tests' keys (which share the database): only these expire
    past = T0 - timedelta(days=3650)
    assert await keys.begin(keys.a, "old", "o", past) is None
    assert await keys.begin(keys.a, "new", "o", past + TICK) is None
    assert await keys.store.purge(past + TTL) == 0  # expiring at that instant: kept
    assert await keys.store.purge(past + TTL + TICK) == 1
    assert await keys.rows("old") == {} and keys.a in await keys.rows("new")


# -- the requests, through the gateway ------------------------------------------------


@dataclass
class Gateway:
    http: httpx.AsyncClient
    engine: Any
    account: int
    key_id: int


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    """The gateway in this process, without a tracker; no upstream is ever called."""
    with fresh_database(tmp_path) as url:
        settings = Settings(
            data_dir=tmp_path,
            database_url=url,
            admin_token=ADMIN_TOKEN,
            bootstrap_api_key=API_KEY,
            sandbox_render="stub",
        )
        app = create_app(settings, announce=None)
        async with app.router.lifespan_context(app):
            gw = app.state.gateway
            key = await gw.auth.api_key(API_KEY)
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {API_KEY}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gateway", headers=headers
            ) as http:
                yield Gateway(http, gw.engine, key.account_id, key.id)


async def test_the_same_key_on_another_path_is_another_request(gateway: Gateway) -> None:
    """Two cancels with one key and the same (empty) body differ only in their path: the
    second must not be answered with the first one's result."""
    headers = {"Idempotency-Key": "cancel-1"}
    first = await gateway.http.post("/v1/tasks/video_nope1/cancel", headers=headers)
    assert first.status_code == 404
    replay = await gateway.http.post("/v1/tasks/video_nope1/cancel", headers=headers)
    assert replay.status_code == 404 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    other = await gateway.http.post("/v1/tasks/video_nope2/cancel", headers=headers)
    assert other.status_code == 422 and "idempotent-replayed" not in other.headers
    assert "was used with a different request" in other.text


async def test_the_method_and_body_are_part_of_the_request_too(gateway: Gateway) -> None:
    headers = {"Idempotency-Key": "create-1"}
    body = {"model": "T2V-01", "prompt": "a cat", "duration": 10}  # refused: kept
    first = await gateway.http.post("/v1/video_generation", json=body, headers=headers)
    assert first.json()["base_resp"]["status_code"] == 2013
    replay = await gateway.http.post("/v1/video_generation", json=body, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == first.json()
    changed = {**body, "prompt": "a dog"}
    other = await gateway.http.post("/v1/video_generation", json=changed, headers=headers)
    assert "idempotent-replayed" not in other.headers
    assert "was used with a different request" in other.text


async def test_a_rate_limited_answer_is_not_replayed(gateway: Gateway) -> None:
    """A 1002 says "retry later": it is not kept, so the retry with the same key runs
    again (and is limited again, not replayed), and the key stays free for any request."""
    limit = await gateway.http.patch(
        f"/admin/v1/accounts/{gateway.account}",
        json={"max_in_flight": 1},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert limit.status_code == 200
    await TaskStore(gateway.engine).insert(new_task(gateway.account, key_id=gateway.key_id), T0)
    headers = {"Idempotency-Key": "limited-1"}
    body = {"model": "T2V-01", "prompt": "a cat"}
    for _ in range(2):
        limited = await gateway.http.post("/v1/video_generation", json=body, headers=headers)
        assert limited.json()["base_resp"]["status_code"] == 1002
        assert "idempotent-replayed" not in limited.headers
    # nothing was kept under the key: another request may use it and gets its own answer
    other = {**body, "duration": 10}
    refused = await gateway.http.post("/v1/video_generation", json=other, headers=headers)
    assert refused.json()["base_resp"]["status_code"] == 2013
    assert "allows duration 6 seconds, not 10" in refused.text


@pytest.mark.parametrize(("key", "accepted"), [("", False), ("k" * 255, True), ("k" * 256, False)])
async def test_a_key_is_1_to_255_characters(gateway: Gateway, key: str, accepted: bool) -> None:
    resp = await gateway.http.post("/v1/tasks/video_nope/cancel", headers={"Idempotency-Key": key})
    if accepted:
        assert resp.status_code == 404
    else:
        assert resp.status_code == 400
        assert "Idempotency-Key must be 1 to 255 characters" in resp.text


async def test_a_large_body_is_fingerprinted_whole(gateway: Gateway) -> None:
    """Bodies over a MiB are hashed off the event loop: the same rules hold for them."""
    headers = {"Idempotency-Key": "large-1"}
    body = {"model": "T2V-01", "prompt": "x" * (1 << 20)}  # refused (too long): kept
    first = await gateway.http.post("/v1/video_generation", json=body, headers=headers)
    assert first.json()["base_resp"]["status_code"] == 2013
    replay = await gateway.http.post("/v1/video_generation", json=body, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    other = {**body, "prompt": "y" + body["prompt"][1:]}
    changed = await gateway.http.post("/v1/video_generation", json=other, headers=headers)
    assert "was used with a different request" in changed.text
