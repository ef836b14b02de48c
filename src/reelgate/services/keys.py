"""API keys and admin tokens: made from a random secret, kept only as a hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "sk-"
ADMIN_PREFIX = "rg-admin-"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    plaintext: str  # shown once, never stored
    prefix: str  # kept for display
    hash: str


def hash_secret(value: str) -> str:
    # The secrets are 32 random bytes: a fast hash is enough, a slow KDF buys nothing.
    return hashlib.sha256(value.encode()).hexdigest()


def issue_key(plaintext: str | None = None) -> IssuedKey:
    """A new ``sk-...`` key, or the hash of a given one (fixed from the environment)."""
    plaintext = plaintext or KEY_PREFIX + secrets.token_urlsafe(32)
    return IssuedKey(plaintext, plaintext[:10], hash_secret(plaintext))


def new_admin_token() -> str:
    return ADMIN_PREFIX + secrets.token_urlsafe(32)
