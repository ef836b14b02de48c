"""Who is using the console: the session's role and credential, checked on every request
through the gateway's own authenticator, and the CSRF token checked on every change."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from reelgate.api.deps import gateway
from reelgate.console.sessions import COOKIE, Role, Session, SessionStore
from reelgate.console.web import SignInRequired
from reelgate.domain.accounts import ApiKey
from reelgate.errors import Forbidden, InvalidApiKey, Unauthorized

CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"


class CsrfRefused(Forbidden):
    """A change without this session's CSRF token."""


@dataclass(frozen=True, slots=True)
class User:
    """A session opened with an API key: it sees that key's account, nothing else."""

    session: Session
    key: ApiKey


def sessions(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.console_sessions
    return store


def current(request: Request) -> Session | None:
    return sessions(request).get(request.cookies.get(COOKIE))


def _signed_in(request: Request) -> Session:
    session = current(request)
    if session is None or session.role is Role.ANONYMOUS or session.credential_hash is None:
        raise SignInRequired
    return session


async def user(request: Request) -> User:
    """The signed-in API key, re-checked now (revoked, expired, suspended, rate limit)."""
    session = _signed_in(request)
    if session.role is not Role.USER:
        raise Forbidden(
            "these pages show one account's own tasks: sign in with that account's API key"
        )
    assert session.credential_hash is not None
    try:
        key = await gateway(request).auth.api_key_by_hash(session.credential_hash)
    except InvalidApiKey:
        sessions(request).drop(session.id)  # revoked or expired: this session is over
        raise SignInRequired from None
    return User(session, key)


async def operator(request: Request) -> Session:
    """The signed-in operator; an API key's session is refused (403)."""
    session = _signed_in(request)
    if session.role is not Role.OPERATOR:
        raise Forbidden("the operator pages need the admin token; an API key may not use them")
    assert session.credential_hash is not None
    try:
        await gateway(request).auth.admin_by_hash(session.credential_hash)
    except Unauthorized:
        sessions(request).drop(session.id)  # the admin token was replaced
        raise SignInRequired from None
    return session


async def check_csrf(request: Request, session: Session) -> None:
    """The token from the X-CSRF-Token header (htmx, fetch) or the form's ``csrf`` field."""
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if not session.csrf_ok(token):
        raise CsrfRefused("this form has expired or did not come from the console; reload the page")


async def user_change(request: Request) -> User:
    """A user's change: signed in, and the session's CSRF token sent."""
    who = await user(request)
    await check_csrf(request, who.session)
    return who


async def operator_change(request: Request) -> Session:
    session = await operator(request)
    await check_csrf(request, session)
    return session
