"""A callback receiver for tests: a real HTTP server in a thread, with programmable faults."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import free_port


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes
    body: Any
    status: int  # what the receiver answered
    at: float


@dataclass
class Receiver:
    """Answers MiniMax's challenge, then each push with whatever ``plan`` says."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    # push number (0-based) -> (status, delay_s, extra headers)
    plan: Callable[[int], tuple[int, float, dict[str, str]]] = lambda n: (200, 0.0, {})
    challenge_delay_s: float = 0.0
    echo: bool = True
    _server: ThreadingHTTPServer | None = None
    _pushes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                body = json.loads(raw or b"{}")
                if "challenge" in body:
                    time.sleep(receiver.challenge_delay_s)
                    value = body["challenge"] if receiver.echo else "nope"
                    self._answer(200, json.dumps({"challenge": value}).encode(), {})
                    return
                with receiver._lock:
                    n = receiver._pushes
                    receiver._pushes += 1
                status, delay, headers = receiver.plan(n)
                time.sleep(delay)
                receiver.received.append(
                    Received(dict(self.headers), raw, body, status, time.time())
                )
                self._answer(status, b'{"status": "success"}', headers)

            def _answer(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]
