"""The API's documentation: /docs (Swagger UI), /redoc and the OpenAPI they read.

The pages load their scripts and styles from this gateway, not from a CDN, so they work
offline and on a network that reaches nothing else: the assets come from the
``fastapi-offline`` package, which ships the Swagger UI and ReDoc bundles (we use its
files only, not its app class). The OpenAPI declares how each operation authenticates
(an API key or the admin token, both ``Authorization: Bearer``), so that "Authorize"
and "Try it out" in Swagger UI send the right header.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

DOCS = "/docs"
REDOC = "/redoc"
ASSETS = "/docs/assets"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"

API_KEY = "apiKey"
ADMIN_TOKEN = "adminToken"
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    API_KEY: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "sk-...",
        "description": "An API key: `Authorization: Bearer sk-...`. The first start prints "
        "one; `reelgate keys create` (or `reelgate recover api-key`) issues more.",
    },
    ADMIN_TOKEN: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "rg-admin-...",
        "description": "The admin token, printed at first start (or REELGATE_ADMIN_TOKEN; "
        "`reelgate recover admin-token` replaces a lost one).",
    },
}
# Which credential each part of the API takes, by path prefix, first match wins. Other
# paths (health, signed download links, upstream callbacks) take none.
_SECURITY_BY_PREFIX = (
    ("/admin/", ADMIN_TOKEN),
    ("/minimaxi/v1/", API_KEY),
    ("/v1/", API_KEY),
)


def assets_dir() -> Path:
    """The Swagger UI and ReDoc bundles, as fastapi-offline ships them."""
    return Path(str(files("fastapi_offline") / "static"))


def install(app: FastAPI) -> None:
    """Serve /docs and /redoc from local assets (create the app with docs_url=None and
    redoc_url=None, which would point at a CDN)."""
    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="docs-assets")

    def urls(request: Request) -> tuple[str, str]:
        root = request.scope.get("root_path", "")
        return root + (app.openapi_url or "/openapi.json"), root + ASSETS

    @app.get(DOCS, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        openapi_url, assets = urls(request)
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=request.scope.get("root_path", "") + OAUTH2_REDIRECT,
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
            # keep what was typed in "Authorize" across reloads of the page
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        openapi_url, assets = urls(request)
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/favicon.png",
            with_google_fonts=False,
        )


def add_security(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the bearer schemes and say on each operation which one it takes."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    for path, operations in schema.get("paths", {}).items():
        scheme = next((s for prefix, s in _SECURITY_BY_PREFIX if path.startswith(prefix)), None)
        if scheme is None:
            continue
        for operation in operations.values():
            operation.setdefault("security", [{scheme: []}])
    return schema
