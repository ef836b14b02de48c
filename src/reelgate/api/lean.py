"""A route that FastAPI does not solve per request, for the routes a client calls most.

FastAPI solves a route's dependencies anew on every request: each one's cache key, its
path, query, header and cookie parameters, a ``Response`` for it to set headers on. On
MiniMax v1's query that was still a quarter of the web layer's main-thread CPU once the
route declared none of its own (issue 19). :class:`LeanRoute` serves a route whose
endpoint takes the request and plain ``str`` query parameters: it runs the app's one
dependency (``url_without_nul``, which ``create_app`` gives every route), reads the
parameters as FastAPI would (the last value, or the default), and calls the endpoint.
The OpenAPI document is FastAPI's, built from the same declaration.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from reelgate.api.params import url_without_nul

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class LeanRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        dependant = self.dependant
        if (
            dependant.dependencies
            or dependant.path_params
            or dependant.header_params
            or dependant.cookie_params
            or dependant.body_params
            or dependant.request_param_name != "request"
            or any(p.field_info.annotation is not str for p in dependant.query_params)
            # a missing required parameter would reach the endpoint as PydanticUndefined
            or any(p.field_info.is_required() for p in dependant.query_params)
        ):
            raise TypeError(
                f"{self.path}: a LeanRoute takes `request` and optional str query parameters"
            )
        endpoint = self.endpoint
        queries = [(p.name, p.alias, p.default) for p in dependant.query_params]

        async def handler(request: Request) -> Response:
            await url_without_nul(request)
            params = request.query_params
            values = {name: params.get(alias, default) for name, alias, default in queries}
            response: Response = await endpoint(request=request, **values)
            return response

        return handler
