"""How the console answers: Jinja2 pages with the session's CSRF token and notes, the
security headers every page carries, and one route class that turns a missing sign-in
into a redirect and a gateway error into a page with the error's own HTTP status."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from reelgate.console.sessions import COOKIE, COOKIE_PATH, Role, Session
from reelgate.errors import ReelgateError

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")

# Scripts, styles and frames from this origin only; the video may come from the upstream's
# own URL while the gateway has no copy of it yet.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' http: https:; connect-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",  # pages show balances and keys: never from a cache
}

# ISO 4217 currencies whose minor unit is not a hundredth
_MINOR_DIGITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3}


class SignInRequired(Exception):
    """No session (or one whose credential no longer works): go to the sign-in page."""


def money(amount: int | None, currency: str = "USD") -> str:
    if amount is None:
        return "—"
    digits = _MINOR_DIGITS.get(currency.upper(), 2)
    return f"{Decimal(amount).scaleb(-digits):,.{digits}f} {currency}"


def when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def elapsed(start: datetime, end: datetime | None) -> str:
    seconds = int(((end or datetime.now(UTC)) - start).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


templates.env.filters.update(money=money, when=when)
templates.env.globals.update(elapsed=elapsed)


def is_https(request: Request) -> bool:
    # A proxy that ends TLS says so; trusting it can only add the Secure flag, never drop it.
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or proto == "https"


def set_cookie(response: Response, request: Request, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        session.id,
        path=COOKIE_PATH,
        httponly=True,
        secure=is_https(request),
        samesite="strict",
    )


def _currency(request: Request) -> str:
    from reelgate.api.deps import gateway
    from reelgate.console.catalog import price_table

    return price_table(gateway(request).settings.prices_file).currency


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    session: Session | None,
    status: int = 200,
) -> Response:
    """A page, with what the layout needs: the CSRF token, the role, one-time notes."""
    ctx = {
        "currency": _currency(request),
        "session": session,
        "csrf": session.csrf if session else "",
        "role": session.role.value if session else Role.ANONYMOUS.value,
        # only a whole page shows (and so spends) the notes: a fragment fetched meanwhile
        # (a live card, a row) must not swallow "the task was cancelled"
        "notes": session.pop_flash() if session and not name.startswith("_") else [],
        **context,
    }
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    response.headers.update(HEADERS)
    return response


def redirect(request: Request, url: str) -> Response:
    """303 to ``url``; htmx requests get HX-Redirect, so the whole page moves, not a div."""
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"hx-redirect": url, **HEADERS})
    return RedirectResponse(url, status_code=303, headers=HEADERS)


def error_page(request: Request, status: int, message: str) -> Response:
    from reelgate.console.auth import current  # the session, if any, for the layout

    return render(
        request,
        "error.html",
        {"status": status, "message": message},
        session=current(request),
        status=status,
    )


class ConsoleRoute(APIRoute):
    """Errors as pages: a gateway error keeps its HTTP status (a foreign task is a 404
    page, not MiniMax's HTTP 200 error body that the rest of the app answers with)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return redirect(request, "/console/login")
            except ReelgateError as exc:
                return error_page(request, exc.http_status, exc.message)
            except RequestValidationError as exc:
                fields = ", ".join(str(e.get("loc", ("?",))[-1]) for e in exc.errors())
                return error_page(request, 422, f"a parameter has a value not allowed: {fields}")
            finally:
                await request.close()  # uploaded files of a parsed form: never left to the GC

        return run
