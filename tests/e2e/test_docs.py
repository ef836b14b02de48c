"""/docs and /redoc work offline, and the OpenAPI says how to authenticate (issue 13, item 12),
on a live gateway."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import Server

ASSET_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, trust_env=False, timeout=30) as http:
        yield http


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_doc_pages_load_every_asset_from_the_gateway(client: httpx.Client, page: str) -> None:
    resp = client.get(page)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", resp.text)
    urls += re.findall(r"""url\s*:\s*["']([^"']+)["']""", resp.text)  # the OpenAPI's
    assert urls
    assets = [u for u in urls if u.endswith(tuple(ASSET_TYPES))]
    assert {Path(u).suffix for u in assets} >= ({".js", ".css"} if page == "/docs" else {".js"})
    for url in urls:
        assert not re.match(r"(?i)^(https?:)?//", url), f"{page} loads {url} from elsewhere"
        assert url.startswith("/"), url
    for url in assets:
        got = client.get(url)
        assert got.status_code == 200, url
        assert ASSET_TYPES[Path(url).suffix] in got.headers["content-type"], url
        assert len(got.content) > 1000, url
    # nothing else on the page names another host either (fonts, CDNs, trackers)
    hosts = set(re.findall(r"https?://([\w.-]+)", resp.text))
    assert not hosts, hosts


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(p, m, op) for p, ops in schema["paths"].items() for m, op in ops.items()]


def test_operation_ids_are_unique(client: httpx.Client, server: Server) -> None:
    schema = client.get("/openapi.json").json()
    assert "Duplicate Operation ID" not in server.log()  # FastAPI's warning, as it builds it
    ids = [op["operationId"] for _, _, op in _operations(schema)]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates
    methods = {m for p, m, _ in _operations(schema) if p == "/minimaxi/v1/files/retrieve_content"}
    assert methods == {"get", "head"}  # both documented, each with its own id


def test_openapi_declares_bearer_auth_where_it_is_needed(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["apiKey"] == schemes["apiKey"] | {"type": "http", "scheme": "bearer"}
    assert schemes["adminToken"] == schemes["adminToken"] | {"type": "http", "scheme": "bearer"}
    checked = set()
    for path, method, op in _operations(schema):
        security = op.get("security")
        if path.startswith("/admin/"):
            assert security == [{"adminToken": []}], (path, method)
        elif path.startswith(("/minimaxi/v1/", "/v1/")):
            assert security == [{"apiKey": []}], (path, method)
        else:  # health, signed download links, upstream callbacks: no bearer token
            assert security is None, (path, method)
        checked.add(path.split("/")[1])
    assert {"admin", "minimaxi", "v1", "healthz"} <= checked
