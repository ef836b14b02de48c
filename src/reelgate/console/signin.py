"""Signing in and out. The credential travels in a POST body only (never a URL, never a
log line), and the form itself carries a CSRF token, so no other site can sign a browser
into an account of its choosing."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from reelgate.api.deps import gateway
from reelgate.console.auth import CSRF_FIELD, CsrfRefused, current, sessions
from reelgate.console.sessions import COOKIE, COOKIE_PATH, Role, Session
from reelgate.console.web import ConsoleRoute, redirect, render, set_cookie
from reelgate.errors import Forbidden, InvalidApiKey, ReelgateError, Unauthorized
from reelgate.services.keys import hash_secret

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

MAX_CREDENTIAL = 512  # far above any key or token; a megabyte "password" is not hashed

HOME = {Role.USER: "/console/tasks", Role.OPERATOR: "/console/admin"}


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    session = current(request)
    if session is None or session.role is Role.ANONYMOUS:
        return redirect(request, "/console/login")
    return redirect(request, HOME[session.role])


def _login_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    session = current(request)
    if session is None or session.role is not Role.ANONYMOUS:
        session = sessions(request).start()
    response = render(request, "login.html", {"error": error}, session=session, status=status)
    set_cookie(response, request, session)
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _login_page(request)


async def _role_of(request: Request, digest: str) -> Role:
    """The admin token's hash makes an operator, an API key's a user; else refused."""
    auth = gateway(request).auth
    try:
        await auth.admin_by_hash(digest)
        return Role.OPERATOR
    except Unauthorized:
        pass
    await auth.api_key_by_hash(digest)  # InvalidApiKey, Forbidden (suspended), RateLimited
    return Role.USER


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    before = current(request)
    token = form.get(CSRF_FIELD)
    if before is None or not before.csrf_ok(token if isinstance(token, str) else None):
        return _login_page(request, "The sign-in form expired; please try again.", 403)
    credential = form.get("credential")
    if not isinstance(credential, str) or not credential.strip():
        return _login_page(request, "Enter an API key or the admin token.", 400)
    if len(credential) > MAX_CREDENTIAL:
        return _login_page(request, "That is not an API key or an admin token.", 401)
    digest = hash_secret(credential.strip())
    try:
        role = await _role_of(request, digest)
    except (InvalidApiKey, Unauthorized):
        return _login_page(request, "That is not a valid API key or admin token.", 401)
    except (Forbidden, ReelgateError) as exc:
        return _login_page(request, exc.message, exc.http_status)
    store = sessions(request)
    store.drop(before.id)
    session: Session = store.start(role, digest)
    response = redirect(request, HOME[role])
    set_cookie(response, request, session)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    # Even signing out takes the CSRF token: no other site may end a session either.
    session = current(request)
    form = await request.form()
    token = form.get(CSRF_FIELD)
    if session is None or not session.csrf_ok(token if isinstance(token, str) else None):
        raise CsrfRefused("this form has expired or did not come from the console; reload the page")
    sessions(request).drop(session.id)
    response = redirect(request, "/console/login")
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response
