"""The command line: help on every command, and `generate` as a real client."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from reelgate.sandbox.render import FPS
from tests.support import API_KEY, Server, free_port, image_bytes
from tests.video import probe

COMMANDS = ["serve", "worker", "sandbox", "migrate", "generate"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reelgate", *args], capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help(command: str | None) -> None:
    out = run(*([command] if command else []), "--help")
    assert out.returncode == 0, out.stderr
    assert "Usage" in out.stdout and len(out.stdout) > 200


def test_generate_saves_the_video(server: Server, tmp_path: Path) -> None:
    first = tmp_path / "first.png"
    first.write_bytes(image_bytes(640, 480))
    out = tmp_path / "clip.mp4"
    result = run(
        "generate",
        "[Zoom in] a garden",
        "--model",
        "MiniMax-Hailuo-02",
        "--first-frame",
        str(first),
        "--resolution",
        "512P",
        "--duration",
        "6",
        "-o",
        str(out),
        "--base-url",
        server.url + "/minimaxi",
        "--api-key",
        API_KEY,
        "--interval",
        "0.3",
    )
    assert result.returncode == 0, result.stderr
    assert "saved" in result.stderr
    video = probe(out.read_bytes())
    assert video.frames == 6 * FPS and video.height == 512 and video.width > 512


def test_generate_reports_refusals(server: Server, tmp_path: Path) -> None:
    result = run(
        "generate",
        "x",
        "--model",
        "MiniMax-Hailuo-2.3-Fast",
        "-o",
        str(tmp_path / "x.mp4"),
        "--base-url",
        server.url + "/minimaxi",
        "--api-key",
        API_KEY,
    )
    assert result.returncode == 1
    assert "does not support text to video" in result.stderr and "2013" in result.stderr


def test_generate_needs_a_key(server: Server) -> None:
    result = run("generate", "x", "--base-url", server.url + "/minimaxi", env={"PATH": ""})
    assert result.returncode == 2 and "API key" in result.stderr


# -- issue 13, items 11 and 13: the command line as a new user meets it -------------------


def _all_commands() -> list[tuple[tuple[str, ...], Any]]:
    """Every command and group of `reelgate`, with its path, e.g. ("recover", "api-key")."""
    from reelgate.cli import app

    found: list[tuple[tuple[str, ...], Any]] = []

    def walk(path: tuple[str, ...], command: Any) -> None:
        found.append((path, command))
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk((*path, name), sub)

    walk((), typer.main.get_command(app))
    return found


def test_version_alone_prints_the_version() -> None:
    from reelgate import __version__

    out = run("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == __version__


def test_help_shows_every_bracketed_text_and_no_flag_metavar() -> None:
    """Rich markup must not eat help text in brackets ("[Push in]", "[env: ...]"), and a
    flag, which takes no value, must not show one (typer's `<bool>`)."""
    runner = CliRunner()
    from reelgate.cli import app

    checked = 0
    for path, command in _all_commands():
        # wide, so that no bracketed text is wrapped across lines
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400"})
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, (path, result.output)
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        for text in texts:
            for inner in re.findall(r"\\?\[([^\[\]\n]*)\]", text):
                assert f"[{inner}]" in result.output, (path, inner, result.output)
                checked += 1
    assert checked >= 3  # generate's prompt, --host and --port at least


def test_generate_help_shows_the_camera_move_example() -> None:
    out = run("generate", "--help", env={**os.environ, "COLUMNS": "400"})
    assert out.returncode == 0 and "[Push in]" in out.stdout, out.stdout


def test_a_busy_port_changes_nothing(tmp_path: Path) -> None:
    """Credentials are printed only once: a start that cannot listen must not bootstrap
    (nor create the store at all); the next start on a free port prints them."""
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELGATE_")}
    env.update(REELGATE_DATA_DIR=str(data), REELGATE_SANDBOX_RENDER="stub")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "reelgate", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert out.returncode == 3, out.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "Address already in use" in out.stderr and "REELGATE_PORT" in out.stderr
    assert "admin token" not in out.stderr
    assert not (data / "reelgate.db").exists()  # not bootstrapped: not even created

    # the next start, on a free port and with no fixed credentials (unlike tests.Server's)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reelgate", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while "Application startup complete" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        text = log.read_text()
        assert "first start, created the default account" in text
        assert re.search(r"admin token: rg-admin-\S+", text), text
        assert re.search(r"API key: +sk-\S+", text), text
    finally:
        proc.terminate()
        proc.wait(20)


def test_every_start_says_where_the_store_is(tmp_path: Path) -> None:
    """Run from another directory, the default ./data is that directory's: every command
    that opens the store says which, as an absolute path, and when it is a new one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELGATE_")}
    first = subprocess.run(
        [sys.executable, "-m", "reelgate", "migrate"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    store = tmp_path.resolve() / "data" / "reelgate.db"
    assert first.returncode == 0, first.stderr
    assert f"store: {store} (none yet: a new, empty store)" in first.stderr
    assert f"data: {tmp_path.resolve() / 'data'}" in first.stderr
    again = subprocess.run(
        [sys.executable, "-m", "reelgate", "migrate"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert f"store: {store}," in again.stderr and "none yet" not in again.stderr


def test_make_run_takes_a_port() -> None:
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        ["make", "-n", "run", "PORT=8123"], cwd=root, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "reelgate serve --port 8123" in out.stdout


def test_serve_says_which_setting_is_wrong(tmp_path: Path) -> None:
    env = {**os.environ, "REELGATE_ADMIN_TOKEN": "", "REELGATE_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "reelgate", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "REELGATE_ADMIN_TOKEN" in done.stderr and "at least 8 characters" in done.stderr
    assert "Traceback" not in done.stderr
