"""Console sessions: a random id in the cookie, the rest in this process's memory.

The cookie holds only 32 random bytes (url-safe): nothing to sign, decrypt or forge. The
server keeps ``{id: Session}``, where a session holds the SHA-256 of the credential it was
opened with (never the credential), its CSRF token and its role. Every request re-checks
that hash through the gateway's authenticator, so a revoked key or a replaced admin token
ends its sessions at once.

Sessions live in one process: a restart signs everyone out, and several replicas behind
one address need sticky sessions (or one console replica). That is the price of keeping
no session table; the console is a tool for a few people, not a public site.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

COOKIE = "rg_console"
COOKIE_PATH = "/console"
IDLE_S = 8 * 3600  # a session nobody used for a working day ends
MAX_AGE_S = 24 * 3600  # and none outlives a day, used or not
MAX_SESSIONS = 10_000  # the oldest go first: an anonymous flood cannot grow memory


class Role(StrEnum):
    ANONYMOUS = "anonymous"  # has a CSRF token for the sign-in form, nothing else
    USER = "user"  # signed in with an API key: its own account
    OPERATOR = "operator"  # signed in with the admin token


@dataclass
class Session:
    id: str
    csrf: str
    role: Role
    credential_hash: str | None  # SHA-256 hex of the API key or admin token
    started: float
    seen: float
    flash: list[str] = field(default_factory=list)  # one-time notes for the next page

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(self.csrf, token)

    def pop_flash(self) -> list[str]:
        notes, self.flash = self.flash, []
        return notes


def _token() -> str:
    return secrets.token_urlsafe(32)


class SessionStore:
    """Sessions by id, oldest first, bounded in number and in age."""

    def __init__(
        self,
        *,
        idle_s: float = IDLE_S,
        max_age_s: float = MAX_AGE_S,
        max_sessions: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._idle_s = idle_s
        self._max_age_s = max_age_s
        self._max = max_sessions
        self._now = clock

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._now()
        if now - session.seen > self._idle_s or now - session.started > self._max_age_s:
            self.drop(session_id)
            return None
        session.seen = now
        return session

    def start(self, role: Role = Role.ANONYMOUS, credential_hash: str | None = None) -> Session:
        """A new session with a new id and CSRF token (a sign-in never keeps the old id,
        so an id planted before it is worth nothing after)."""
        now = self._now()
        session = Session(_token(), _token(), role, credential_hash, now, now)
        self._sessions[session.id] = session
        while len(self._sessions) > self._max:
            self._sessions.popitem(last=False)
        return session

    def drop(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
