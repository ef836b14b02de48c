"""MiniMax v1's create and query, the routes a client calls most, declare no FastAPI
dependency of their own: FastAPI solves each dependency anew on every request (its
cache key, its own parameters), which was a third of the web layer's CPU on a query
(issue 19). They look their key and service up in the handler instead; the one
dependency left is the app's own (``url_without_nul``), which every route has."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from reelgate.surfaces.minimax_v1.routes import router

HOT = [("POST", "/video_generation"), ("GET", "/query/video_generation")]


@pytest.mark.parametrize(("method", "path"), HOT)
def test_the_hot_routes_declare_no_dependency(method: str, path: str) -> None:
    [route] = [
        r
        for r in router.routes
        if isinstance(r, APIRoute) and r.path == path and method in r.methods
    ]
    assert [d.call for d in route.dependant.dependencies] == []
