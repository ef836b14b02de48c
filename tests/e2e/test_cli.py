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
from reelgate.sandbox.render.sizes import v2_frame_count
from tests.integration.test_sandbox_v2 import decode
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


def _generate(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return run(
        "generate",
        *args,
        "--base-url",
        server.url + "/minimaxi",
        "--api-key",
        API_KEY,
        "--interval",
        "0.3",
    )


def test_generate_makes_an_h3_text_video_through_v2(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "kite.mp4"
    result = _generate(
        server,
        "a red kite over a windy beach",
        "--model",
        "MiniMax-H3",
        "--ratio",
        "9:16",
        "--duration",
        "4",  # H3's shortest
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"task \d{15}  platform id video_", result.stderr), result.stderr
    assert "saved" in result.stderr and "768P 9:16, 4 s, MiniMax-H3" in result.stderr
    clip = decode(out.read_bytes())
    assert clip.size == (768, 1344) and clip.rate == FPS
    assert len(clip.frames) == v2_frame_count(4)
    assert clip.audio_codec == "aac" and abs(clip.audio_s - v2_frame_count(4) / FPS) < 0.05
    assert not (tmp_path / "kite.mp4.part").exists()


def test_generate_sends_a_local_reference_image(server: Server, tmp_path: Path) -> None:
    """The file goes as a data URI; adaptive follows it: 800 x 600 gives 4:3, 1024 x 768."""
    face = tmp_path / "face.png"
    face.write_bytes(image_bytes(800, 600))
    # a long name with brackets: the "saved" line must come through a pipe in one piece
    out = tmp_path / f"[take 1] {'x' * 90}.mp4"
    result = _generate(
        server,
        "the person from image 1 waves",
        "--model",
        "MiniMax-H3",
        "--reference-image",
        str(face),
        "--duration",
        "4",
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert f"saved {out} (768P 4:3, 4 s, MiniMax-H3)" in result.stderr
    assert decode(out.read_bytes()).size == (1024, 768)


def test_generate_reports_v2_refusals(server: Server, tmp_path: Path) -> None:
    result = _generate(
        server, "x", "--model", "MiniMax-H3", "--duration", "3", "-o", str(tmp_path / "x.mp4")
    )
    assert result.returncode == 1
    assert "4 to 15 seconds" in result.stderr and "code 2013" in result.stderr
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--model", "MiniMax-Hailuo-2.3", "--reference-image", "a.png"], "are for MiniMax-H3"),
        (["--model", "MiniMax-Hailuo-2.3", "--ratio", "9:16"], "are for MiniMax-H3"),
        (["--model", "MiniMax-H3", "--subject", "a.png"], "--subject is for S2V-01"),
        (["--model", "MiniMax-H3", "--reference-audio", "missing.wav"], "Cannot read a file"),
    ],
)
def test_generate_refuses_options_the_model_does_not_take(args: list[str], said: str) -> None:
    """Before anything is sent (the base URL is unreachable): exit 2."""
    from reelgate.cli import app

    result = CliRunner().invoke(
        app,
        ["generate", "x", *args, "--api-key", "k", "--base-url", "http://127.0.0.1:9"],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 2, result.output
    assert said in result.output


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
