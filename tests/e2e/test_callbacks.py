"""Callbacks to clients: the challenge, signed deliveries that survive failures and
restarts, exactly once per webhook-id, in order per task."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.receiver import Receiver
from tests.support import ADMIN_TOKEN, API_KEY, STUB_VIDEOS, MiniMax, Server, migrated_database

T2V = {"model": "T2V-01", "prompt": "a lantern in the fog"}


ENV = {
    "REELGATE_SANDBOX_TIMINGS": "0.5,0.5,1.5",
    "REELGATE_CALLBACK_RETRY_FIRST_S": "0.3",
    "REELGATE_LEASE_S": "3",
    **STUB_VIDEOS,
}


@contextmanager
def started(data_dir: Path) -> Iterator[Server]:
    with migrated_database(data_dir) as url:
        server = Server(data_dir, url, env=ENV).start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One gateway for the tests that neither restart it nor change its account's secret:
    each follows tasks and deliveries of its own."""
    with started(tmp_path_factory.mktemp("callbacks")) as server:
        yield server


@pytest.fixture
def own_gateway(tmp_path: Path) -> Iterator[Server]:
    """A gateway for one test alone (it kills and restarts it)."""
    with started(tmp_path) as server:
        yield server


def rotate_secret(server: Server) -> str:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    resp = httpx.post(
        server.url + "/admin/v1/accounts/1/webhook-secret", headers=headers, trust_env=False
    )
    assert resp.status_code == 201
    secret: str = resp.json()["secret"]
    assert secret.startswith("whsec_")
    return secret


def standard_webhooks_verify(secret: str, headers: dict[str, str], raw: bytes) -> bool:
    """The Standard Webhooks v1 algorithm, written from the spec (not the gateway's code)."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, timestamp = lower["webhook-id"], lower["webhook-timestamp"]
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{msg_id}.{timestamp}.{raw.decode()}".encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    if abs(time.time() - int(timestamp)) > 300:
        return False
    return any(
        part.split(",", 1)[0] == "v1" and hmac.compare_digest(part.split(",", 1)[1], expected)
        for part in lower["webhook-signature"].split()
    )


def deliveries(server: Server, task_id: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    resp = httpx.get(
        f"{server.url}/v1/tasks/{task_id}/deliveries", headers=headers, trust_env=False
    )
    assert resp.status_code == 200
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


def wait_for(check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_every_change_arrives_once_in_order_through_failures_and_a_restart(
    own_gateway: Server,
) -> None:
    gateway = own_gateway
    secret = rotate_secret(gateway)

    def plan(n: int) -> tuple[int, float, dict[str, str]]:
        if n < 2:
            return 500, 0.0, {}  # the first deliveries fail
        if n == 2:
            return 429, 0.0, {"Retry-After": "1"}
        if n == 3:
            return 200, 2.0, {}  # slow
        return 200, 0.0, {}

    receiver = Receiver(plan=plan).start()
    try:
        with MiniMax(gateway.url + "/minimaxi", API_KEY) as client:
            created = [client.create({**T2V, "callback_url": receiver.url}) for _ in range(2)]
        # the receiver goes down while the gateway is killed and restarted
        time.sleep(1.0)
        receiver.stop()
        gateway.kill()
        time.sleep(1.0)
        gateway.start()
        receiver = Receiver(
            port=receiver.port, plan=lambda n: (200, 0.0, {}), received=receiver.received
        ).start()
        ids = [c["platform_id"] for c in created]

        def all_delivered() -> bool:
            # one read per task: reading states and the last status apart would let a
            # delivery made in between (the success) pass as delivered
            histories = [deliveries(gateway, t) for t in ids]
            return all(
                h
                and h[-1]["body"]["status"] == "success"
                and all(d["state"] == "delivered" for d in h)
                for h in histories
            )

        wait_for(all_delivered, timeout=90)
    finally:
        receiver.stop()

    by_id: dict[str, list[Any]] = {}
    for r in receiver.accepted():
        assert standard_webhooks_verify(secret, r.headers, r.raw), "bad signature"
        by_id.setdefault(r.headers["webhook-id"], []).append(r)
    for task_id in ids:
        history = deliveries(gateway, task_id)
        assert [d["seq"] for d in history] == list(range(1, len(history) + 1))
        # every status change arrived, once when counted by webhook-id ...
        assert {d["webhook_id"] for d in history} <= set(by_id)
        # ... and in order: the first accepted receipt of each follows the seq order
        firsts = [min(x.at for x in by_id[d["webhook_id"]]) for d in history]
        assert firsts == sorted(firsts)
        statuses = [by_id[d["webhook_id"]][0].body["status"] for d in history]
        assert statuses[-1] == "success" and statuses[0] == "preparing"
        assert by_id[history[-1]["webhook_id"]][0].body["platform_id"] == task_id
    retried = [d for t in ids for d in deliveries(gateway, t) if d["attempts"] > 1]
    assert retried, "the failing receiver should have caused retries"


@pytest.mark.once  # the delivery's rows: tests/inprocess/test_deliveries_api.py, both stores
def test_redelivery_keeps_the_webhook_id(gateway: Server) -> None:
    receiver = Receiver().start()
    try:
        with MiniMax(gateway.url + "/minimaxi", API_KEY) as client:
            task = client.create({**T2V, "callback_url": receiver.url})["platform_id"]
            client.wait(task)
        wait_for(lambda: all(d["state"] == "delivered" for d in deliveries(gateway, task)))
        first = deliveries(gateway, task)[0]
        headers = {"Authorization": f"Bearer {API_KEY}"}
        resp = httpx.post(
            f"{gateway.url}/v1/tasks/{task}/deliveries/{first['id']}/redeliver",
            headers=headers,
            trust_env=False,
        )
        assert resp.status_code == 200
        wait_for(
            lambda: (
                sum(r.headers["webhook-id"] == first["webhook_id"] for r in receiver.accepted())
                == 2
            )
        )
    finally:
        receiver.stop()


@pytest.mark.once  # the delivery's rows: tests/inprocess/test_webhook_delivery.py, both stores
def test_410_stops_delivery_to_that_url(gateway: Server) -> None:
    receiver = Receiver(plan=lambda n: (410, 0.0, {})).start()
    try:
        with MiniMax(gateway.url + "/minimaxi", API_KEY) as client:
            task = client.create({**T2V, "callback_url": receiver.url})["platform_id"]
            client.wait(task)
        wait_for(lambda: all(d["state"] == "gone" for d in deliveries(gateway, task)))
        assert len(receiver.received) == 1
    finally:
        receiver.stop()


@pytest.mark.parametrize(
    ("echo", "delay", "fragment"),
    [
        (False, 0.0, "challenge"),
        (True, 3.5, "within 3 seconds"),
    ],
)
def test_a_failed_challenge_refuses_the_task_and_charges_nothing(
    gateway: Server, echo: bool, delay: float, fragment: str
) -> None:
    receiver = Receiver(echo=echo, challenge_delay_s=delay).start()
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    try:
        before = httpx.get(gateway.url + "/admin/v1/accounts/1", headers=headers).json()
        with MiniMax(gateway.url + "/minimaxi", API_KEY) as client:
            resp = client.http.post(
                "/v1/video_generation", json={**T2V, "callback_url": receiver.url}
            ).json()
        assert resp["base_resp"]["status_code"] == 2013
        assert "fail to check callback url" in resp["base_resp"]["status_msg"]
        assert fragment in resp["base_resp"]["status_msg"]
        after = httpx.get(gateway.url + "/admin/v1/accounts/1", headers=headers).json()
        assert after["balance"] == before["balance"]
    finally:
        receiver.stop()


def set_sandbox_faults(server: Server, spec: str) -> None:
    """The mounted sandbox's fault plan (its control endpoint takes the admin token)."""
    resp = httpx.put(
        server.url + "/sandbox/_control/faults",
        json={"faults": spec},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        trust_env=False,
    )
    assert resp.status_code == 200, resp.text


@pytest.mark.once  # the push's wire shape; the store's part is the same failed task
def test_a_failed_tasks_push_carries_the_querys_failure_code(gateway: Server) -> None:
    """MiniMax's pushes have the query's shape: a task that failed with 1027 says so in
    base_resp in the push as in the query (not 0, "success")."""
    receiver = Receiver().start()
    set_sandbox_faults(gateway, "fail_midway=1")
    try:
        with MiniMax(gateway.url + "/minimaxi", API_KEY) as client:
            task = client.create({**T2V, "callback_url": receiver.url})["platform_id"]
            queried = client.wait(task)
            assert queried["status"] == "Fail"
            assert queried["base_resp"]["status_code"] == 1027

            def failed_push() -> list[Any]:
                return [r.body for r in receiver.accepted() if r.body["status"] == "failed"]

            wait_for(lambda: bool(failed_push()))
    finally:
        set_sandbox_faults(gateway, "")
        receiver.stop()
    push = failed_push()[0]
    assert push["base_resp"] == queried["base_resp"]
    assert push["error_message"] == queried["error_message"]
    assert {k: v for k, v in push.items() if k != "status"} == {
        k: v for k, v in queried.items() if k != "status"
    }
