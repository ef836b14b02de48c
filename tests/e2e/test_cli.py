"""The command line: help on every command, and `generate` as a real client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reelgate.sandbox.render import FPS
from tests.support import API_KEY, Server, image_bytes
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
