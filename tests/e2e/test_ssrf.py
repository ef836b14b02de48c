"""No request forgery, and no cheap way to hurt other tenants with a bad URL.

A gateway with both URL guards on (its own, for callbacks; its mounted sandbox's, for
image fetches) is attacked as issue 13 describes: callback URLs into the operator's
network, malformed URLs that used to crash the sandbox (HTTP 500) and cool the shared
channel down for everyone.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.operator import T2V, Operator
from tests.receiver import Receiver
from tests.support import API_KEY, SANDBOX_KEY, MiniMax, Server, count_tasks, migrated_database

BAD_PORT = "http://93.184.216.34:99999/a.png"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("guarded")
    with migrated_database(data_dir) as url:
        guarded = {
            "REELGATE_ALLOW_PRIVATE_URLS": "false",
            "REELGATE_SANDBOX_ALLOW_PRIVATE_URLS": "false",
        }
        srv = Server(data_dir, url, env=guarded).start()
        yield srv
        srv.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    # a receiver that would echo the challenge: only the guard stands in the way
    r = Receiver().start()
    yield r
    r.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://[::1]:{port}/hook",
        "http://localhost:{port}/hook",  # a name that resolves to loopback
        "http://169.254.169.254/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",  # shared address space: cloud metadata
        "http://10.0.0.1/hook",
        "http://192.168.1.1/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://[2002:7f00:1::]:{port}/hook",  # 6to4 wrapping of 127.0.0.1
        "http://[64:ff9b::7f00:1]:{port}/hook",  # NAT64 wrapping of 127.0.0.1
        "http://0.0.0.0:{port}/hook",
    ],
)
def test_private_callback_urls_are_refused(server: Server, receiver: Receiver, url: str) -> None:
    with MiniMax(server.url + "/minimaxi", API_KEY) as client:
        body = {"model": "T2V-01", "prompt": "x", "callback_url": url.format(port=receiver.port)}
        resp = client.http.post("/v1/video_generation", json=body).json()
    assert resp["base_resp"]["status_code"] == 2013
    message = resp["base_resp"]["status_msg"]
    # refused by the guard, not merely unreachable (a time-out would be a 2013 too)
    assert "fail to check callback url" in message and "private or reserved address" in message
    assert not receiver.received


@pytest.mark.parametrize(
    ("callback_url", "says"),
    [
        ("http://93.184.216.34:99999/hook", "callback_url has port 99999; ports are 1 to 65535"),
        ("http://127.0.0.1:{port}/hook\r\nX-Injected: 1", "callback_url contains the character"),
        ("http://127.0.0.1:{port}/hook\x00", "callback_url contains the character U+0000"),
    ],
)
def test_a_malformed_callback_url_is_a_2013(
    server: Server, receiver: Receiver, callback_url: str, says: str
) -> None:
    # these used to answer 1000 (an uncaught ValueError or httpx.InvalidURL)
    with MiniMax(server.url + "/minimaxi", API_KEY) as client:
        body = {**T2V, "callback_url": callback_url.format(port=receiver.port)}
        resp = client.http.post("/v1/video_generation", json=body)
    assert resp.status_code == 200
    assert resp.json()["base_resp"]["status_code"] == 2013, resp.json()
    assert says in resp.json()["base_resp"]["status_msg"]
    assert not receiver.received


def test_malformed_image_urls_cost_nothing_and_cool_down_nothing(server: Server) -> None:
    """The issue's reproduction: nine creates with a port out of range in 40 s used to
    leave every other tenant with 1000 ("every upstream channel ... is cooling down")."""
    with Operator(server) as op:
        attacker_id, attacker = op.client(credit=1000)
        ledger = op.ledger(attacker_id)
        tasks = count_tasks(server.database_url)
        with MiniMax(server.url + "/minimaxi", attacker["key"]) as client:
            body = {"model": "I2V-01", "prompt": "x", "first_frame_image": BAD_PORT}
            for _ in range(9):
                resp = client.http.post("/v1/video_generation", json=body).json()
                assert resp["base_resp"] == {
                    "status_code": 2013,
                    "status_msg": "invalid params, first_frame_image URL has port 99999; "
                    "ports are 1 to 65535",
                }, resp
        # refused at the edge: nothing stored, nothing charged or reserved
        assert count_tasks(server.database_url) == tasks
        assert op.balance(attacker_id) == 1000 and op.ledger(attacker_id) == ledger
        _, other = op.client(credit=1000)
    with MiniMax(server.url + "/minimaxi", other["key"]) as client:
        made = client.create(T2V)
    assert made["base_resp"]["status_code"] == 0, made


@pytest.mark.parametrize(
    ("field", "url", "says"),
    [
        ("first_frame_image", BAD_PORT, "first_frame_image URL has port 99999"),
        ("first_frame_image", "http://93.184.216.34:0/a.png", "has port 0"),
        ("first_frame_image", "http://[::1/a.png", "not a valid URL"),
        ("first_frame_image", "http://a.example/a.png\r\n", "contains the character U+000D"),
        ("first_frame_image", "http://u:p@93.184.216.34/a.png", "user credentials"),
        ("first_frame_image", "http://127.1/a.png", "four decimal numbers"),
        ("first_frame_image", "http://100.100.100.200/a.png", "private or reserved address"),
        ("first_frame_image", "http://[2002:a9fe:a9fe::]/a.png", "private or reserved address"),
        ("callback_url", "http://93.184.216.34:99999/hook", "callback_url has port 99999"),
    ],
)
def test_the_sandbox_answers_2013_never_500(
    server: Server, field: str, url: str, says: str
) -> None:
    body = {"model": "I2V-01", "prompt": "x", "first_frame_image": BAD_PORT.replace("99999", "80")}
    body[field] = url
    headers = {"Authorization": f"Bearer {SANDBOX_KEY}"}
    with httpx.Client(base_url=server.url, headers=headers, trust_env=False, timeout=30) as c:
        resp = c.post("/sandbox/v1/video_generation", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["base_resp"]["status_code"] == 2013, resp.json()
    assert says in resp.json()["base_resp"]["status_msg"]
