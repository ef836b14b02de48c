"""``serve --workers``: the option, what it refuses and why, and how many child deaths are
a passing fault (reelgate/supervisor.py). The processes themselves: tests/e2e."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelgate.cli import app
from reelgate.settings import Settings
from reelgate.supervisor import CrashBudget, refusal

EXTERNAL = {"minimax_api_key": "sk-real", "redis_url": "redis://127.0.0.1:6379/0"}


def settings(**values: object) -> Settings:
    return Settings(**{**EXTERNAL, **values})  # type: ignore[arg-type]


def test_one_process_is_today_s_serve_whatever_the_settings() -> None:
    assert refusal(Settings(redis_url=None), 1) is None  # the mounted sandbox, no Redis


def test_more_than_one_needs_redis_and_an_upstream_outside_the_process() -> None:
    assert refusal(settings(), 2) is None
    no_redis = refusal(settings(redis_url=None), 3)
    assert no_redis is not None and "REELGATE_REDIS_URL" in no_redis
    assert "3 times its rpm_limit" in no_redis
    for mounted in (settings(minimax_api_key=None), settings(sandbox_enabled=True)):
        why = refusal(mounted, 2)
        assert why is not None and "built-in sandbox" in why and "reelgate sandbox" in why
    assert refusal(settings(minimax_api_key=None, sandbox_enabled=False), 2) is None


@pytest.mark.parametrize("count", [0, -1])
def test_fewer_than_one_is_refused(count: int) -> None:
    why = refusal(settings(), count)
    assert why is not None and "at least 1" in why


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def serve(tmp_path: Path, port: int, *args: str, **env: str) -> tuple[int, str]:
    base = {"REELGATE_DATA_DIR": str(tmp_path), "REELGATE_REDIS_URL": None}
    result = CliRunner().invoke(
        app, ["serve", "--port", str(port), *args], env={**base, "REELGATE_WORKERS": None, **env}
    )
    return result.exit_code, result.output


def test_the_cli_refuses_before_it_listens_or_touches_the_store(
    tmp_path: Path, busy_port: int
) -> None:
    # on a busy port a serve that listened first would exit 3: the refusal comes first
    code, out = serve(tmp_path, busy_port, "--workers", "2")
    assert code == 2 and "built-in sandbox at /sandbox" in out, out
    code, out = serve(tmp_path, busy_port, "--workers", "2", REELGATE_MINIMAX_API_KEY="sk-x")
    assert code == 2 and "needs REELGATE_REDIS_URL" in out, out
    code, out = serve(tmp_path, busy_port, REELGATE_WORKERS="0")  # from the environment
    assert code == 2 and "--workers must be at least 1" in out, out
    assert not list(tmp_path.iterdir())  # no store, no folder made
    # allowed: it goes on, and meets the busy port
    code, out = serve(
        tmp_path,
        busy_port,
        "--workers",
        "2",
        REELGATE_MINIMAX_API_KEY="sk-x",
        REELGATE_REDIS_URL="redis://127.0.0.1:1/0",
    )
    assert code == 3 and "cannot listen" in out, out


def test_child_deaths_within_the_window_are_counted_and_the_pause_doubles() -> None:
    now = [0.0]
    budget = CrashBudget(max_crashes=3, window_s=60, clock=lambda: now[0])
    assert budget.crashed() == 1.0
    now[0] = 10
    assert budget.crashed() == 2.0
    now[0] = 20
    assert budget.crashed() is None  # the third within 60 s: broken, not a passing fault


def test_deaths_far_apart_are_passing_faults_and_the_pause_starts_over() -> None:
    now = [0.0]
    budget = CrashBudget(max_crashes=2, window_s=60, clock=lambda: now[0])
    for i in range(5):
        now[0] = i * 61.0
        assert budget.crashed() == 1.0
