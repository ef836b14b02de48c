"""Test support: real gateway processes, fresh databases and test images."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from PIL import Image, ImageDraw

from tests import schema_templates
from tests.zygote import ForkedProcess, zygote

ADMIN_TOKEN = "rg-admin-test-token"
API_KEY = "sk-test-0123456789abcdefghijklmnopqrstuvwxyz"
# Test servers give their sandbox (mounted or standalone) this key explicitly: a gateway
# left to itself makes a secret one at first start and keeps it in its store.
SANDBOX_KEY = "sandbox-key"
# For servers whose tests are not about the video itself (callbacks, restarts, copies,
# events): the sandbox hands every task one small shared clip instead of rendering each,
# a CPU-second apiece that the two test passes would otherwise share out of two cores.
STUB_VIDEOS = {"REELGATE_SANDBOX_RENDER": "stub"}
# gateway processes forked from one that has imported reelgate (tests/zygote.py), unless 0
FORK = os.environ.get("REELGATE_TEST_FORK", "1") != "0"


def test_database() -> str:
    """'sqlite' (the default) or a PostgreSQL URL, from REELGATE_TEST_DATABASE."""
    return os.environ.get("REELGATE_TEST_DATABASE", "sqlite")


def on_postgres() -> bool:
    return test_database().startswith("postgresql")


def postgres_test_url() -> str:
    """PostgreSQL for the tests that need it whatever the pass (the scale test)."""
    if on_postgres():
        return test_database()
    default = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    return os.environ.get("REELGATE_TEST_PG_URL", default)


def redis_test_url() -> str:
    """Redis for the tests that need it: REELGATE_TEST_REDIS_URL, else the local server.
    Tests keep to key prefixes of their own, so the database number may be shared."""
    return os.environ.get("REELGATE_TEST_REDIS_URL") or "redis://127.0.0.1:6379/1"


def service_missing(reason: str) -> NoReturn:
    """A service a test needs is absent: an error in CI (CI=true), locally a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


@contextmanager
def fresh_database(data_dir: Path, url: str | None = None) -> Iterator[str]:
    """A database URL nobody else uses: a new PostgreSQL database, or SQLite in data_dir.
    ``url`` picks the server; by default the pass's (REELGATE_TEST_DATABASE)."""
    url = url or test_database()
    if not url.startswith("postgresql"):
        yield f"sqlite+aiosqlite:///{data_dir / 'reelgate.db'}"
        return
    name = f"rg_test_{uuid.uuid4().hex[:12]}"
    admin_url = url.replace("+asyncpg", "")
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {name}"], check=True)
    try:
        yield url.rsplit("/", 1)[0] + "/" + name
    finally:
        subprocess.run(
            ["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
            check=False,
        )


@contextmanager
def migrated_database(data_dir: Path) -> Iterator[str]:
    """A database nobody else uses, as ``fresh_database``, but already at the current schema
    (a copy of a template migrated once: ``tests/schema_templates.py``), for the tests
    that are not about migrating. Usable from a fixture with a running event loop too."""
    url = test_database()
    if not url.startswith("postgresql"):
        path = data_dir / "reelgate.db"
        schema_templates.copy_migrated_file(path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    name = f"rg_test_{uuid.uuid4().hex[:12]}"
    schema_templates.copy_migrated(url, name)
    try:
        yield url.rsplit("/", 1)[0] + "/" + name
    finally:
        schema_templates.psql(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", check=False)


@contextmanager
def gateway_process(data_dir: Path, **env: str) -> Iterator[Server]:
    """A ``reelgate serve`` process on a store of its own of the pass's kind, already at the
    current schema (its start then reads one row and never imports Alembic), stopped at
    the end."""
    with migrated_database(data_dir) as url:
        server = Server(data_dir=data_dir, database_url=url, env=env).start()
        try:
            yield server
        finally:
            server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A ``reelgate serve`` (or ``sandbox``, or ``worker``) process, started and stopped by
    tests. With REELGATE_TEST_REDIS_URL set, gateway processes share that Redis under a
    key prefix of their database's own (so test modules never share a window)."""

    data_dir: Path
    database_url: str
    command: str = "serve"
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | ForkedProcess | None = None
    log_path: Path | None = None
    args: tuple[str, ...] = ()  # more command-line arguments, e.g. ("--no-worker",)
    unset: tuple[str, ...] = ()  # variables to leave out, e.g. ("REELGATE_SANDBOX_API_KEYS",)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Server:
        env = {
            **os.environ,
            "REELGATE_DATA_DIR": str(self.data_dir),
            "REELGATE_DATABASE_URL": self.database_url,
            "REELGATE_ADMIN_TOKEN": ADMIN_TOKEN,
            "REELGATE_BOOTSTRAP_API_KEY": API_KEY,
            "REELGATE_SANDBOX_ALLOW_PRIVATE_URLS": "true",
            "REELGATE_ALLOW_PRIVATE_URLS": "true",
            "REELGATE_POLL_INITIAL_S": "0.3",
            "REELGATE_POLL_MAX_S": "1.0",
            "REELGATE_SANDBOX_API_KEYS": json.dumps([SANDBOX_KEY]),
            **self._redis_env(),
            **self.env,
        }
        for name in self.unset:
            env.pop(name, None)
        self.log_path = self.data_dir / f"{self.command}-{self.port}.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = () if self.command == "worker" else ("--port", str(self.port))
        args = [self.command, *port, *self.args]
        if FORK:  # a fork of a process that has imported reelgate already (tests/zygote.py)
            self.log_path.touch()  # read below before the child may have opened it
            self.proc = zygote().spawn(args, env, str(self.log_path))
        else:
            with self.log_path.open("ab") as log:  # the child keeps its own handle
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "reelgate", *args],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        ready = "/readyz" if self.command == "serve" else "/docs"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            if self.command == "worker":  # no HTTP: it says when it runs
                if "worker running" in self.log():
                    return self
                time.sleep(0.1)
                continue
            try:
                if httpx.get(self.url + ready, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not get ready:\n{self.log()}")

    def _redis_env(self) -> dict[str, str]:
        redis_url = os.environ.get("REELGATE_TEST_REDIS_URL")
        if not redis_url or self.command == "sandbox":
            return {}
        prefix = hashlib.sha256(self.database_url.encode()).hexdigest()[:12]
        return {"REELGATE_REDIS_URL": redis_url, "REELGATE_REDIS_PREFIX": f"rgtest:{prefix}:"}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


class MiniMax:
    """A plain MiniMax v1 client over real HTTP, as an external client would be."""

    def __init__(self, base_url: str, api_key: str | None = API_KEY) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30, trust_env=False)

    def __enter__(self) -> MiniMax:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def create(self, body: Any) -> dict[str, Any]:
        resp = self.http.post("/v1/video_generation", json=body)
        assert resp.status_code == 200, resp.text
        assert resp.headers.get("trace-id")
        return resp.json()  # type: ignore[no-any-return]

    def query(self, task_id: str) -> dict[str, Any]:
        resp = self.http.get("/v1/query/video_generation", params={"task_id": task_id})
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    def retrieve(self, file_id: str) -> dict[str, Any]:
        resp = self.http.get("/v1/files/retrieve", params={"file_id": file_id})
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    def wait(self, task_id: str, timeout: float = 90.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.query(task_id)
            if data["status"] in ("Success", "Fail"):
                return data
            time.sleep(0.2)
        raise AssertionError(f"task {task_id} did not finish in {timeout} s: {data}")


def image_bytes(width: int, height: int, fmt: str = "PNG", seed: int = 1) -> bytes:
    """A textured test picture (so that motion and likeness can be measured)."""
    img = Image.new("RGB", (width, height), (30 + seed * 40 % 200, 90, 160))
    draw = ImageDraw.Draw(img)
    step = max(8, min(width, height) // 12)
    for i, x in enumerate(range(0, width, step)):
        for j, y in enumerate(range(0, height, step)):
            if (i + j + seed) % 3 == 0:
                colour = ((i * 37 + seed * 50) % 255, (j * 53) % 255, (i * j * 7) % 255)
                draw.rectangle([x, y, x + step - 2, y + step - 2], fill=colour)
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def sandbox_requests(
    sandbox_url: str, since: float, token: str = ADMIN_TOKEN
) -> list[dict[str, Any]]:
    """The calls a sandbox received (and the pushes it sent) after ``since``, from its
    own request log; ``sandbox_url`` is its base, e.g. the gateway's ``/sandbox`` (whose
    control endpoints take the gateway's admin token; a standalone one's, its key)."""
    resp = httpx.get(
        sandbox_url + "/_control/requests",
        params={"since": since},
        headers={"Authorization": f"Bearer {token}"},
        trust_env=False,
    )
    resp.raise_for_status()
    entries: list[dict[str, Any]] = resp.json()
    return entries


def count_tasks(database_url: str) -> int:
    """Rows in the gateway's tasks table, read straight from the store."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> int:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                return int((await conn.execute(text("SELECT count(*) FROM tasks"))).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(run())


def new_task(
    account_id: int,
    *,
    price: int = 0,
    key_id: int | None = None,
    max_in_flight: int | None = None,
    model: str = "T2V-01",
) -> Any:
    """A NewTask for store-level tests: T2V-01, 720P, 6 s, due in an hour."""
    from datetime import UTC, datetime, timedelta

    from reelgate.domain.ids import new_platform_id
    from reelgate.store.tasks import NewTask

    return NewTask(
        platform_id=new_platform_id(),
        account_id=account_id,
        api_key_id=key_id,
        model=model,
        mode="t2v",
        channel="sandbox",
        request={},
        duration=6,
        resolution="720P",
        price=price,
        callback_url=None,
        deadline_at=datetime.now(UTC) + timedelta(hours=1),
        max_in_flight=max_in_flight,
    )
