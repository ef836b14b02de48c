"""Schemathesis over the whole OpenAPI of a live gateway: no input gets a 5xx (issue 13).

One ``reelgate serve`` process on the pass's store (this module runs in both passes,
SQLite and PostgreSQL), fuzzed from its own ``/openapi.json`` by ``schemathesis run``,
with the API key on the key routes and the admin token on the admin routes. Two checks:

- ``not_a_server_error``: whatever the input, the answer is not a 5xx;
- ``response_schema_conformance``: an answer whose status the operation declares has the
  declared shape (the MiniMax routes' HTTP 200 errors included).

Phases: the schema's examples (with the real ids of a finished task filled in, so that
the found-a-task paths run too, not only "not found"), the coverage phase (boundary
values: the 2^63 and year-0 inputs of the issue are of this kind), and a bounded number
of random cases per operation, valid and invalid. Seeded: CI runs the same cases every
time. REELGATE_FUZZ_EXAMPLES (random cases per operation) and REELGATE_FUZZ_SEED change
the budget and the cases, for a longer run by hand.

The schemathesis CLI rather than its pytest plugin: the plugin's fixture-based loader
(needed for a schema that only a running server has) breaks on pytest 9.2. On a failure
the assertion shows schemathesis' report, with a curl command that reproduces each case.

Left out, and why:
- ``/sandbox/...`` is a separate app mounted beside the gateway, not in this schema;
- the upstream push route is not in the schema either (its token is an HMAC random input
  never matches; tests/e2e/test_upstream_callbacks.py covers it);
- suspending the fuzzer's own account or revoking its own key would turn every later case
  into a 401/403: those two operations act on a second account (``parameters`` below);
  the same id type is fuzzed on every other account and key route.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ADMIN_TOKEN, API_KEY, MiniMax, Server, gateway_process

EXAMPLES = int(os.environ.get("REELGATE_FUZZ_EXAMPLES", "25"))
SEED = int(os.environ.get("REELGATE_FUZZ_SEED", "13"))
REQUEST_TIMEOUT_S = 15  # a hung answer (an SSE stream that never ends) fails its case
BUDGET_S = 240  # the whole run, far above its cost: a hang fails instead of stalling CI
CHECKS = "not_a_server_error,response_schema_conformance"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A gateway of this module's own, not the shared one: the fuzzer writes at random
    (account limits, suspensions, keys, channels)."""
    with gateway_process(tmp_path_factory.mktemp("gateway")) as srv:
        yield srv


def _finished_task(server: Server) -> dict[str, Any]:
    """Ids of a succeeded task of the fuzzer's account, and of a second account and key."""
    with MiniMax(server.url + "/minimaxi") as mm:
        created = mm.create({"model": "T2V-01", "prompt": "a paper boat on a pond"})
        assert created["base_resp"]["status_code"] == 0, created
        done = mm.wait(created["platform_id"])
        assert done["status"] == "Success", done
        file = mm.retrieve(done["file_id"])["file"]
    link = urllib.parse.urlsplit(file["download_url"])
    signed = dict(urllib.parse.parse_qsl(link.query))
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=server.url + "/admin/v1", headers=admin, trust_env=False) as http:
        other = http.post("/accounts", json={"name": "fuzz-other"}).json()
        other_key = http.post(f"/accounts/{other['id']}/keys", json={"name": "k"}).json()
        channel = {"name": "fuzz", "base_url": "https://upstream.invalid", "api_key": "k"}
        assert http.post("/channels", json={**channel, "enabled": False}).status_code == 201
    return {
        "task_id": created["platform_id"],
        "file_id": str(done["file_id"]),
        "name": link.path.rsplit("/", 1)[-1],
        "expires": int(signed["expires"]),
        "sig": signed["sig"],
        "account_id": other["id"],
        "key_id": other_key["id"],
        "channel": channel["name"],
    }


def _with_examples(spec: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The schema with real values as the examples of the parameters that name them."""
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                name = param["name"]
                if name == "name" and path.startswith("/admin/"):
                    name = "channel"  # not a file's name: a channel's
                if name in values:
                    param["example"] = values[name]
    return spec


def _config(values: dict[str, Any]) -> str:
    """schemathesis.toml: who authenticates how, and the two operations held apart."""
    return f"""
[[operations]]
include-path-regex = "^/admin/|^/metrics$"
headers = {{ Authorization = "Bearer {ADMIN_TOKEN}" }}

[[operations]]
include-path-regex = "^/(v1|minimaxi)/"
headers = {{ Authorization = "Bearer {API_KEY}" }}

[[operations]]
include-path = "/admin/v1/accounts/{{account_id}}/suspend"
parameters = {{ account_id = {values["account_id"]} }}

[[operations]]
include-path = "/admin/v1/keys/{{key_id}}/revoke"
parameters = {{ key_id = {values["key_id"]} }}
"""


def test_no_input_gets_a_server_error_and_answers_match_the_schema(
    server: Server, tmp_path: Path
) -> None:
    values = _finished_task(server)
    spec = httpx.get(server.url + "/openapi.json", timeout=30).json()
    schema_path = tmp_path / "openapi.json"
    schema_path.write_text(json.dumps(_with_examples(spec, values)))
    config_path = tmp_path / "schemathesis.toml"
    config_path.write_text(_config(values))
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config_path),
        "run", str(schema_path), "--url", server.url,
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(EXAMPLES),
        "--seed", str(SEED),
        "--generation-database", "none",
        "--suppress-health-check", "all",
        "--request-timeout", str(REQUEST_TIMEOUT_S),
        "--workers", "1",  # 2 hit a CPython 3.11 race in ast.parse (inside hypothesis)
        "--no-color",
    ]  # fmt: skip
    started = time.monotonic()
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=BUDGET_S, cwd=tmp_path, check=False
    )
    took = time.monotonic() - started
    report = run.stdout + run.stderr
    print(f"\nschemathesis: {took:.1f} s\n{report[-1500:]}")
    assert run.returncode == 0, f"schemathesis found failures ({took:.0f} s):\n{report[-20000:]}"
    assert "No issues found" in report or "passed" in report, report[-3000:]
