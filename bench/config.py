"""Where the benchmarks keep things, and the keys, versions and request they share."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PYTHON = sys.executable  # the project's venv: run the benches with .venv/bin/python

SANDBOX_KEY = "bench-key"
API_KEY = "sk-bench-0123456789abcdefghijklmnopqrstuv"
ADMIN_TOKEN = "rg-admin-bench-token"
LITELLM_KEY = "sk-litellm-bench"
LITELLM_VERSION = "1.106.2"
LITELLM_VENV = BENCH / ".venv-litellm"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"

CREATE_BODY = {"model": "T2V-01", "prompt": "A lighthouse on a cliff at dusk [Pan left]"}

SOURCE: dict[str, str] = {}  # which reelgate ran, when not the working tree
