"""Request size and slow clients against live servers, over raw sockets where the attack
is the wire itself: bodies past the limit are refused without being buffered (declared
or chunked), a trickled request head and a stalled body are cut, an endless head too."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ADMIN_TOKEN, API_KEY, Server, migrated_database

# Nothing here depends on the store: one pass is enough.
pytestmark = [pytest.mark.once]

LIMIT = 4 * 1024 * 1024  # the create limit these servers run with
OTHER = 1024 * 1024  # every other route's (http_limits.OTHER_BODY_BYTES)
HEAD_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.0
LIMITS_ENV = {
    "REELGATE_MAX_BODY_BYTES": str(LIMIT),
    "REELGATE_HTTP_HEAD_TIMEOUT_S": str(HEAD_TIMEOUT_S),
    "REELGATE_HTTP_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
}
CREATE = "/minimaxi/v1/video_generation"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("limits")
    with migrated_database(data_dir) as url:
        srv = Server(data_dir=data_dir, database_url=url, env=LIMITS_ENV).start()
        try:
            yield srv
        finally:
            srv.stop()


def peak_rss(server: Server) -> int:
    """The server process's peak resident memory so far, in bytes (VmHWM)."""
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def connect(server: Server, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def head(path: str, headers: dict[str, str], method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP answer (status, headers, body) from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            raise AssertionError(f"closed before an answer: {data!r}")
        data += more
    raw_head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = raw_head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        more = sock.recv(65536)
        if not more:
            break
        body += more
    return int(status_line.split()[1]), headers, body


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (EOF or reset), reading what is left."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def auth(token: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_declared_200_mb_body_is_refused_before_a_byte_is_read(gateway: Server) -> None:
    before = peak_rss(gateway)
    with connect(gateway) as sock:
        sock.sendall(
            head(
                CREATE,
                {**auth(), "Content-Type": "application/json", "Content-Length": "200000000"},
            )
        )
        status, headers, body = read_answer(sock)  # no body sent: the answer comes anyway
        assert status == 200  # the MiniMax surface: HTTP 200 and a non-zero base_resp
        base = json.loads(body)["base_resp"]
        assert base["status_code"] == 2013
        assert f"larger than {LIMIT:,} bytes" in base["status_msg"]
        assert headers["connection"] == "close"
        assert headers.get("trace-id")
        # sending it anyway changes nothing: the server has hung up
        with pytest.raises(OSError):
            for _ in range(200):
                sock.sendall(b"x" * 1024 * 1024)
    assert peak_rss(gateway) - before < 30 * 1024 * 1024


def test_a_chunked_body_past_the_limit_is_cut_without_being_buffered(gateway: Server) -> None:
    before = peak_rss(gateway)
    chunk = b"%x\r\n%s\r\n" % (1024 * 1024, b"x" * 1024 * 1024)
    sent = 0
    with connect(gateway) as sock:
        sock.sendall(head(CREATE, {**auth(), "Transfer-Encoding": "chunked"}))
        answer: list[tuple[int, dict[str, str], bytes]] = []
        reader = threading.Thread(target=lambda: answer.append(read_answer(sock)))
        reader.start()
        with pytest.raises(OSError):  # 200 MiB offered; the server stops reading at 4 MiB
            while sent < 200:
                sock.sendall(chunk)
                sent += 1
        reader.join(10)
    assert sent < 200
    status, _, body = answer[0]
    assert status == 200
    assert json.loads(body)["base_resp"]["status_code"] == 2013
    assert "larger than" in json.loads(body)["base_resp"]["status_msg"]
    assert peak_rss(gateway) - before < 30 * 1024 * 1024


def test_a_body_at_the_limit_passes_the_size_check_and_one_more_byte_does_not(
    gateway: Server,
) -> None:
    with httpx.Client(base_url=gateway.url, headers=auth(), timeout=30) as http:
        at = http.post(CREATE, content=b" " * (LIMIT - 2) + b"{}")
        assert "larger than" not in at.text  # it was read and parsed: the model is missing
        assert at.json()["base_resp"]["status_code"] == 2013
        assert "model is required" in at.json()["base_resp"]["status_msg"]
    with connect(gateway) as sock:
        sock.sendall(head(CREATE, {**auth(), "Content-Length": str(LIMIT + 1)}))
        _, _, body = read_answer(sock)
        assert "larger than" in json.loads(body)["base_resp"]["status_msg"]


def test_other_routes_take_one_mib_and_answer_413_in_the_platform_shape(
    gateway: Server,
) -> None:
    account = {"name": "limits", "balance": 0}
    padded = json.dumps(account).encode()
    padded += b" " * (OTHER - len(padded))
    with httpx.Client(base_url=gateway.url, headers=auth(ADMIN_TOKEN), timeout=30) as http:
        at = http.post(
            "/admin/v1/accounts", content=padded, headers={"Content-Type": "application/json"}
        )
        assert at.status_code != 413, at.text
        over = http.post(
            "/admin/v1/accounts",
            content=padded + b" ",
            headers={"Content-Type": "application/json"},
        )
        assert over.status_code == 413
        error = over.json()
        assert error["error"]["kind"] == "payload_too_large"
        assert error["request_id"] == over.headers["trace-id"]

        def chunks() -> Iterator[bytes]:
            yield padded
            yield b" "

        chunked = http.post(
            "/admin/v1/accounts", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert chunked.status_code == 413
        assert chunked.json()["error"]["kind"] == "payload_too_large"


def test_a_head_trickled_one_line_a_second_is_cut_at_the_deadline(gateway: Server) -> None:
    with connect(gateway) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /minimaxi/v1/query/video_generation?task_id=1 HTTP/1.1\r\n")
        lines = 0
        with pytest.raises(OSError):
            while time.monotonic() - started < 3 * HEAD_TIMEOUT_S + 2:
                sock.sendall(b"X-Trickle-%d: %s\r\n" % (lines, b"x" * 10))
                lines += 1
                time.sleep(0.25)  # the client's pace is the attack itself
        took = time.monotonic() - started
    assert HEAD_TIMEOUT_S <= took < HEAD_TIMEOUT_S + 1.5, took


def test_the_trickling_client_is_told_408_and_an_idle_one_is_closed(gateway: Server) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        status, headers, _ = read_answer(sock)
        assert status == 408 and headers["connection"] == "close"
        assert closed_by_peer(sock)
    with connect(gateway) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # nothing ever sent: closed at the deadline
        assert time.monotonic() - started < HEAD_TIMEOUT_S + 1.5


def test_the_deadline_restarts_after_each_answer_on_a_kept_alive_connection(
    gateway: Server,
) -> None:
    with connect(gateway) as sock:
        for _ in range(3):  # three requests over 1.5 deadlines, each head sent at once
            sock.sendall(head("/healthz", {}, method="GET"))
            status, _, _ = read_answer(sock)
            assert status == 200
            time.sleep(HEAD_TIMEOUT_S / 2)


def test_an_endless_head_is_refused_431(gateway: Server) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Long: ")
        with pytest.raises(OSError):
            for _ in range(64):  # one header line that never ends: 4 MiB of it
                sock.sendall(b"y" * 65536)
        status, _, _ = read_answer(sock)
        assert status == 431


def test_a_stalled_body_is_cut(gateway: Server) -> None:
    with connect(gateway) as sock:
        started = time.monotonic()
        sock.sendall(head(CREATE, {**auth(), "Content-Length": "1000"}) + b'{"model": ')
        status, headers, body = read_answer(sock)  # and then nothing more is sent
        took = time.monotonic() - started
        assert status == 200 and headers["connection"] == "close"
        base = json.loads(body)["base_resp"]
        assert base["status_code"] == 2013
        assert "sent nothing for 1 s" in base["status_msg"]
        assert BODY_TIMEOUT_S <= took < BODY_TIMEOUT_S + 1.5
        assert closed_by_peer(sock)


def test_the_standalone_sandbox_has_the_same_limits(tmp_path: Path) -> None:
    sandbox = Server(data_dir=tmp_path, database_url="", command="sandbox", env=LIMITS_ENV)
    sandbox.start()
    try:
        with connect(sandbox) as sock:
            sock.sendall(
                head("/v1/video_generation", {**auth("sandbox-key"), "Content-Length": "200000000"})
            )
            status, _, body = read_answer(sock)
            assert status == 200
            assert "larger than" in json.loads(body)["base_resp"]["status_msg"]
        with connect(sandbox) as sock:
            sock.sendall(b"GET /v1/query/video_generation HTTP/1.1\r\n")
            started = time.monotonic()
            assert read_answer(sock)[0] == 408
            assert time.monotonic() - started < HEAD_TIMEOUT_S + 1.5
    finally:
        sandbox.stop()
