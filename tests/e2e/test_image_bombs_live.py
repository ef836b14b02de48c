"""Image bombs against a live gateway: refused with 2013 on their header, and decodes
that are allowed never stall the event loop, so other clients' queries keep answering."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from tests.support import API_KEY, MiniMax, Server, data_url, gateway_process
from tests.unit.test_image_bombs import grey_png

# The store plays no part in checking images: one pass is enough.
pytestmark = [pytest.mark.once]

QUERY_BOUND_S = 0.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A gateway of this module's own, not the shared one: the bound on query latency
    holds for an idle gateway, which one that other modules used may not be."""
    with gateway_process(tmp_path_factory.mktemp("gateway")) as srv:
        yield srv


@pytest.fixture(scope="module")
def webp_bomb() -> Iterator[bytes]:
    """The issue's bomb: a lossless WebP of a few dozen bytes that decodes to 16383x5460
    (1.7 s and 270 MB per decode)."""
    buf = io.BytesIO()
    Image.new("RGB", (16383, 5460)).save(buf, "WEBP", lossless=True, quality=0, method=0)
    data = buf.getvalue()
    assert len(data) < 5000
    yield data


def test_bombs_are_refused_while_other_queries_keep_answering(
    server: Server, webp_bomb: bytes
) -> None:
    bombs = [data_url(webp_bomb, "image/webp")] * 6
    # decodable up to its corrupt last row: the gateway does decode these (64 MP, within
    # the cap) and must do it off the event loop
    bombs += [data_url(grey_png(8000, 8000, corrupt_last_row=True))] * 2

    latencies: list[float] = []
    done = threading.Event()

    def query() -> None:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
        ) as http:
            while not done.is_set():
                started = time.perf_counter()
                # an authenticated look-up in the store, answered on the event loop
                resp = http.get("/minimaxi/v1/query/video_generation", params={"task_id": "1"})
                latencies.append(time.perf_counter() - started)
                assert resp.status_code == 200

    def bomb(image: str) -> dict[str, object]:
        with MiniMax(server.url + "/minimaxi", API_KEY) as client:
            return client.create({"model": "MiniMax-Hailuo-2.3", "first_frame_image": image})

    with ThreadPoolExecutor(len(bombs) + 1) as pool:
        querying = pool.submit(query)
        while not latencies:  # the querier is up before the bombs go
            time.sleep(0.01)
        started = time.perf_counter()
        answers = list(pool.map(bomb, bombs))
        took = time.perf_counter() - started
        done.set()
        querying.result()

    for answer, image in zip(answers, bombs, strict=True):
        base = answer["base_resp"]
        assert isinstance(base, dict)
        assert base["status_code"] == 2013, answer
        expected = "aspect ratio" if image.startswith("data:image/webp") else "not a decodable"
        assert expected in base["status_msg"]
    assert len(latencies) >= 3, (latencies, took)
    assert max(latencies) < QUERY_BOUND_S, sorted(latencies)[-5:]
