"""A target: something that answers MiniMax's v1 API (the sandbox, a gateway, LiteLLM),
the environment it starts in, and LiteLLM's proxy installed in its own venv."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from config import CREATE_BODY, LITELLM_VENV, LITELLM_VERSION
from procs import Proc, Unavailable


@dataclass
class Target:
    """Something that answers MiniMax's v1 API: its base URL, the key it wants, its process."""

    name: str
    base: str  # up to and including /v1
    api_key: str
    proc: Proc
    note: str = ""
    store: str = ""  # the gateway's database: a SQLite file or a PostgreSQL URL

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}

    @property
    def create_url(self) -> str:
        return f"{self.base}/video_generation"

    def query_url(self, task_id: str) -> str:
        return f"{self.base}/query/video_generation?task_id={task_id}"

    def query_path(self, task_id: str) -> str:
        return "/" + self.query_url(task_id).split("/", 3)[3]

    def create_task(self) -> str:
        """Create one task and return its task_id (for the query benchmarks)."""
        resp = httpx.post(self.create_url, headers=self.headers, json=CREATE_BODY, timeout=30)
        data = resp.json()
        if resp.status_code != 200 or data.get("base_resp", {}).get("status_code") != 0:
            raise Unavailable(f"{self.name}: create failed: {resp.status_code} {resp.text}")
        return str(data["task_id"])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a target: none of ours REELGATE_*, and bytecode caching on (a
    deployment has its .pyc files; compiling at every start would count in its start)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELGATE_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra)
    return env


def ensure_litellm(version: str = LITELLM_VERSION) -> Path:
    """LiteLLM's proxy in its own virtual environment (bench/.venv-litellm), installed once."""
    exe = LITELLM_VENV / "bin" / "litellm"
    stamp = LITELLM_VENV / f".installed-{version}"
    if exe.exists() and stamp.exists():
        return exe
    print(f"installing litellm[proxy]=={version} into {LITELLM_VENV} ...", file=sys.stderr)
    packages = ["--upgrade", "pip", f"litellm[proxy]=={version}"]
    steps = [
        [sys.executable, "-m", "venv", str(LITELLM_VENV)],
        [str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *packages],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            raise Unavailable(f"could not install litellm[proxy]=={version}: {tail}")
    stamp.touch()
    return exe
