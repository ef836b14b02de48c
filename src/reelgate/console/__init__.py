"""The web console at /console: server-rendered pages (Jinja2) for the people who use the
gateway (signed in with an API key: their own account) and for its operator (the admin
token). It calls the gateway's services like the APIs do; assets ship in ``static/``.
See docs/console.md."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from reelgate.console import (
    operator_accounts,
    operator_system,
    playground_pages,
    signin,
    task_pages,
    usage,
)
from reelgate.console.sessions import SessionStore
from reelgate.console.web import HERE


def install(app: FastAPI) -> None:
    """Mount the console's pages and assets on the gateway's app."""
    app.state.console_sessions = SessionStore()  # one process's sessions: docs/console.md
    for module in (signin, task_pages, playground_pages, usage, operator_accounts, operator_system):
        app.include_router(module.router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
