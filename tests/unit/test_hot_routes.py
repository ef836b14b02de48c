"""MiniMax v1's create and query, the routes a client calls most, declare no FastAPI
dependency of their own: FastAPI solves each dependency anew on every request (its
cache key, its own parameters), which was a third of the web layer's CPU on a query
(issue 19). They look their key and service up in the handler instead; the one
dependency left is the app's own (``url_without_nul``), which every route has."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from fastapi import Depends, Request
from fastapi.routing import APIRoute

from reelgate.api.lean import LeanRoute
from reelgate.api.params import url_without_nul
from reelgate.app import create_app
from reelgate.surfaces.minimax_v1.routes import router
from tests.inprocess.harness import settings_for

HOT = [("POST", "/video_generation"), ("GET", "/query/video_generation")]


@pytest.mark.parametrize(("method", "path"), HOT)
def test_the_hot_routes_declare_no_dependency(method: str, path: str) -> None:
    [route] = [
        r
        for r in router.routes
        if isinstance(r, APIRoute) and r.path == path and method in r.methods
    ]
    assert [d.call for d in route.dependant.dependencies] == []


@pytest.mark.parametrize(("method", "path"), HOT)
def test_the_hot_routes_are_lean(method: str, path: str) -> None:
    [route] = [r for r in router.routes if isinstance(r, APIRoute) and r.path == path]
    assert isinstance(route, LeanRoute)


def test_a_lean_route_runs_the_apps_one_dependency_so_the_app_has_no_other(
    tmp_path: Path,
) -> None:
    app = create_app(
        settings_for(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/x.db"),
        worker=False,
        announce=None,
    )
    assert [d.dependency for d in app.router.dependencies] == [url_without_nul]


def test_a_lean_route_refuses_an_endpoint_that_needs_solving() -> None:
    async def needs_a_key(request: Request, key: Annotated[str, Depends(lambda: "k")]) -> None:
        return None

    async def takes_an_int(request: Request, n: int = 0) -> None:
        return None

    async def requires_a_str(request: Request, task_id: str) -> None:
        return None

    for endpoint in (needs_a_key, takes_an_int, requires_a_str):
        with pytest.raises(TypeError, match="LeanRoute"):
            LeanRoute("/x", endpoint, methods=["GET"])
