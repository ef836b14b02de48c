"""No request forgery: callback URLs that lead into the operator's network are refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.receiver import Receiver
from tests.support import API_KEY, MiniMax, Server, fresh_database


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("guarded")
    with fresh_database(data_dir) as url:
        srv = Server(data_dir, url, env={"REELGATE_ALLOW_PRIVATE_URLS": "false"}).start()
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
        "http://10.0.0.1/hook",
        "http://192.168.1.1/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://0.0.0.0:{port}/hook",
    ],
)
def test_private_callback_urls_are_refused(server: Server, receiver: Receiver, url: str) -> None:
    with MiniMax(server.url + "/minimaxi", API_KEY) as client:
        body = {"model": "T2V-01", "prompt": "x", "callback_url": url.format(port=receiver.port)}
        resp = client.http.post("/v1/video_generation", json=body).json()
    assert resp["base_resp"]["status_code"] == 2013
    assert "fail to check callback url" in resp["base_resp"]["status_msg"]
    assert not receiver.received
