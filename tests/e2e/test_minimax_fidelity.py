"""Issue 14, items 3 to 5, over real HTTP: what real MiniMax clients trip on.

- Item 3: ``null`` and ``""`` are "not sent"; the gateway forwards only what was sent.
- Item 4: the auth codes per endpoint (2049 for an unknown key on create only, 1004 on
  query and the files endpoints), from the gateway and from the sandbox alike.
- Item 5: the MiniMax routes at the root as well as under /minimaxi, doubled slashes
  tolerated; ``reelgate generate`` and a client make a video through each base URL form.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from reelgate.sandbox.render import FPS
from tests.support import API_KEY, SANDBOX_KEY, MiniMax, Server, sandbox_requests
from tests.video import probe

T2V = {"model": "MiniMax-Hailuo-2.3", "prompt": "a lighthouse at dusk [Push in]"}
ENDPOINTS = [  # (name, method, path below the base URL)
    ("create", "POST", "/v1/video_generation"),
    ("query", "GET", "/v1/query/video_generation?task_id=1"),
    ("retrieve", "GET", "/v1/files/retrieve?file_id=1"),
    ("retrieve_content", "GET", "/v1/files/retrieve_content?file_id=1"),
]


def base_resp(resp: httpx.Response) -> tuple[int, str]:
    assert resp.status_code == 200, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"base_resp"}, body  # MiniMax's error shape, nothing else
    return body["base_resp"]["status_code"], body["base_resp"]["status_msg"]


# -- item 3: null and "" -------------------------------------------------------------------


def test_null_and_empty_fields_are_accepted_and_not_forwarded(
    server: Server, minimax: MiniMax
) -> None:
    since = time.time()
    created = minimax.create(
        {
            **T2V,
            "first_frame_image": None,  # refused with 2013 before issue 14
            "callback_url": "",  # refused with 2013 before issue 14
            "last_frame_image": "",
            "subject_reference": None,
            "duration": "",
            "resolution": None,
            "prompt_optimizer": None,
            "fast_pretreatment": "",
            "aigc_watermark": None,
        }
    )
    assert created["base_resp"]["status_code"] == 0, created
    creates = [
        e
        for e in sandbox_requests(server.url + "/sandbox", since)
        if e["endpoint"] == "create" and e["task_id"] == created["task_id"]
    ]
    assert len(creates) == 1, creates
    # the upstream got the body the client would have sent without the empty fields
    assert creates[0]["body_fields"] == ["model", "prompt"]
    assert minimax.wait(created["task_id"])["status"] == "Success"


def test_the_sandbox_accepts_null_and_empty_fields_too(server: Server) -> None:
    """The sandbox is MiniMax for the gateway's tests: it parses alike."""
    with MiniMax(server.url + "/sandbox", SANDBOX_KEY) as sandbox:
        created = sandbox.create({**T2V, "first_frame_image": None, "callback_url": ""})
        assert created["base_resp"]["status_code"] == 0, created
        empty_model = sandbox.create({**T2V, "model": ""})
    assert empty_model == {
        "base_resp": {"status_code": 2013, "status_msg": "invalid params, model is required"}
    }


def test_a_required_field_left_empty_is_refused_as_required(minimax: MiniMax) -> None:
    refused = minimax.create({"model": "MiniMax-Hailuo-2.3-Fast", "first_frame_image": ""})
    code, message = refused["base_resp"]["status_code"], refused["base_resp"]["status_msg"]
    assert code == 2013 and "first_frame_image is required" in message and "empty" in message
    refused = minimax.create({**T2V, "prompt": None})
    assert refused["base_resp"]["status_msg"].endswith("prompt is required for text to video")


# -- item 4: auth codes per endpoint ---------------------------------------------------------

BAD_HEADERS = [  # (headers, what each endpoint answers)
    ({"Authorization": "Bearer sk-not-a-key"}, {"create": 2049}),
    ({}, {}),
    ({"Authorization": "Basic c2stdGVzdA=="}, {}),
    ({"Authorization": "Bearer"}, {}),
]


@pytest.mark.parametrize(("headers", "codes"), BAD_HEADERS)
@pytest.mark.parametrize("base", ["/minimaxi", "", "/sandbox"])
def test_auth_codes_per_endpoint(
    server: Server, base: str, headers: dict[str, str], codes: dict[str, int]
) -> None:
    """Unknown key: 2049 on create, 1004 elsewhere; no or a malformed header: 1004."""
    for name, method, path in ENDPOINTS:
        resp = httpx.request(
            method, server.url + base + path, headers=headers, json=T2V, trust_env=False
        )
        code, message = base_resp(resp)
        assert code == codes.get(name, 1004), (base, name, message)
        if "sk-not-a-key" in str(headers):
            assert message == "invalid api key", (base, name, message)
        else:
            assert "Bearer <API key>" in message, (base, name, message)


def test_the_platform_api_keeps_its_401(server: Server) -> None:
    resp = httpx.get(
        server.url + "/v1/tasks", headers={"Authorization": "Bearer sk-not-a-key"}, trust_env=False
    )
    assert resp.status_code == 401 and resp.json()["error"]["code"] == 2049


# -- item 5: base URL forms ------------------------------------------------------------------


def mcp_style(base_url: str, method: str, endpoint: str, **kwargs: Any) -> dict[str, Any]:
    """As the official MCP client calls: ``f"{api_host}{endpoint}"``, no URL joining, so a
    trailing slash on the base URL gives ``//v1/...``."""
    resp = httpx.request(
        method,
        f"{base_url}{endpoint}",
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        trust_env=False,
        timeout=30,
        **kwargs,
    )
    resp.raise_for_status()
    data: dict[str, Any] = resp.json()
    assert data["base_resp"]["status_code"] == 0, (base_url, endpoint, data)
    return data


def base_urls(server: Server) -> list[str]:
    return [
        server.url + "/minimaxi",
        server.url + "/minimaxi/",
        server.url,
        server.url + "/",
    ]


@pytest.mark.once  # routing: the store plays no part
def test_a_video_through_each_base_url_form(server: Server) -> None:
    """The test client (httpx joins the base URL) and an MCP-style client (plain
    concatenation: ``/minimaxi//v1``, ``//v1``) both make a video through every form."""
    tasks: list[tuple[str, str, str]] = []  # (base URL, how, task id)
    for base in base_urls(server):
        with MiniMax(base) as client:
            created = client.create(T2V)
            assert created["base_resp"]["status_code"] == 0, (base, created)
            tasks.append((base, "client", created["task_id"]))
        created = mcp_style(base, "POST", "/v1/video_generation", json=T2V)
        tasks.append((base, "mcp", created["task_id"]))
    for base, how, task_id in tasks:
        if how == "client":
            with MiniMax(base) as client:
                done = client.wait(task_id)
                assert done["status"] == "Success", (base, done)
                file = client.retrieve(done["file_id"])["file"]
                content = client.http.get(
                    "/v1/files/retrieve_content", params={"file_id": done["file_id"]}
                )
        else:
            deadline = time.monotonic() + 90
            while (done := mcp_style(base, "GET", f"/v1/query/video_generation?task_id={task_id}"))[
                "status"
            ] != "Success":
                assert done["status"] != "Fail" and time.monotonic() < deadline, (base, done)
                time.sleep(0.2)
            file = mcp_style(base, "GET", f"/v1/files/retrieve?file_id={done['file_id']}")["file"]
            content = httpx.get(
                f"{base}/v1/files/retrieve_content?file_id={done['file_id']}",
                headers={"Authorization": f"Bearer {API_KEY}"},
                trust_env=False,
            )
        assert content.status_code == 200 and content.headers["content-type"] == "video/mp4"
        plain = httpx.get(file["download_url"], trust_env=False)  # no auth, as MCP downloads
        assert plain.status_code == 200 and plain.content == content.content, (base, how)
        assert len(plain.content) == file["bytes"]


def generate(server: Server, base_url: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "reelgate",
            "generate",
            "a lighthouse at dusk",
            "--base-url",
            base_url,
            "--api-key",
            API_KEY,
            "--interval",
            "0.2",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.once  # routing: the store plays no part
@pytest.mark.parametrize("form", ["root", "root/", "minimaxi/"])
def test_generate_through_a_base_url_form(server: Server, tmp_path: Path, form: str) -> None:
    base_url = server.url + {"root": "", "root/": "/", "minimaxi/": "/minimaxi/"}[form]
    out = tmp_path / "clip.mp4"
    result = generate(server, base_url, out)
    assert result.returncode == 0, result.stderr
    video = probe(out.read_bytes())
    assert video.frames == 6 * FPS and video.height == 768


def test_the_root_routes_answer_as_under_minimaxi(server: Server) -> None:
    """Errors in MiniMax's shape at the root too, whatever refuses: the route, the body
    limit, the URL check, the method."""
    huge = b'{"model": "MiniMax-Hailuo-2.3", "prompt": "' + b"x" * (2 << 20) + b'"}'
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/video_generation", {"json": {"model": "Sora-2", "prompt": "x"}}),
        ("POST", "/v1/video_generation", {"content": b"{not json"}),
        ("POST", "/v1/video_generation", {"content": huge}),  # a create may be this large
        ("GET", "/v1/query/video_generation?task_id=%00", {}),
        ("GET", "/v1/query/video_generation?task_id=123", {}),
        ("GET", "/v1/files/retrieve?file_id=123", {}),
        ("GET", "/v1/files/retrieve_content?file_id=123", {}),
        ("GET", "/v1/video_generation", {}),  # wrong method
    ]
    for method, path, kwargs in cases:
        answers = []
        for prefix in ("/minimaxi", "", "/minimaxi/", "/"):
            resp = httpx.request(
                method, server.url + prefix + path, headers=headers, trust_env=False, **kwargs
            )
            answers.append((resp.status_code, resp.json()))
        assert all(a == answers[0] for a in answers), (path, answers)
        assert base_resp(httpx.Response(answers[0][0], json=answers[0][1]))[0] != 0, path
    # the platform's own /v1 routes and their error shape are unchanged
    missing = httpx.get(server.url + "/v1/nothing", headers=headers, trust_env=False)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 2013
    tasks = httpx.get(server.url + "//v1/tasks", headers=headers, trust_env=False)
    assert tasks.status_code == 200 and "data" in tasks.json()


def test_the_root_aliases_stay_out_of_the_openapi_document(server: Server) -> None:
    schema = httpx.get(server.url + "/openapi.json", trust_env=False).json()
    paths = schema["paths"]
    assert "/minimaxi/v1/video_generation" in paths
    assert not {"/v1/video_generation", "/v1/query/video_generation"} & set(paths)
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_doubled_slashes_elsewhere(server: Server) -> None:
    """Signed download links, the sandbox and health still answer with a doubled slash."""
    assert httpx.get(server.url + "//healthz", trust_env=False).status_code == 200
    with MiniMax(server.url + "/sandbox", SANDBOX_KEY) as sandbox:
        created = sandbox.create(T2V)
    query = httpx.get(
        f"{server.url}/sandbox//v1/query/video_generation?task_id={created['task_id']}",
        headers={"Authorization": f"Bearer {SANDBOX_KEY}"},
        trust_env=False,
    )
    assert query.json()["task_id"] == created["task_id"]
