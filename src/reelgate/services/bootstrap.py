"""First start on an empty store: a default account, an admin token and an API key."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from reelgate.errors import Conflict
from reelgate.services.auth import ADMIN_HASH_META
from reelgate.services.keys import hash_secret, issue_key, new_admin_token
from reelgate.settings import Settings
from reelgate.store.accounts import AccountStore

SECRET_META = "signing_secret"
SANDBOX_KEY_META = "sandbox_api_key"
DEFAULT_ACCOUNT = "default"


@dataclass(frozen=True, slots=True)
class Credentials:
    """What to print once: None where the value came from the environment."""

    admin_token: str | None
    api_key: str | None


async def signing_secret(accounts: AccountStore, settings: Settings) -> bytes:
    """The key that signs download URLs: from the settings, or made once in the store."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    value, _ = await accounts.claim_meta(
        SECRET_META, base64.b64encode(secrets.token_bytes(32)).decode()
    )
    return base64.b64decode(value)


async def sandbox_api_keys(accounts: AccountStore, settings: Settings) -> list[str]:
    """The keys the mounted sandbox accepts, the first for the gateway's implicit channel:
    REELGATE_SANDBOX_API_KEYS, or one secret made at first start and kept in the store, so
    that it survives restarts (the sandbox's tasks belong to it) and replicas agree. It is
    kept in plain text, like the signing secret: the gateway must send it."""
    if settings.sandbox_api_keys:
        return list(settings.sandbox_api_keys)
    value, _ = await accounts.claim_meta(SANDBOX_KEY_META, "sbx-" + secrets.token_urlsafe(32))
    return [value]


async def bootstrap(accounts: AccountStore, settings: Settings) -> Credentials | None:
    """Create the default account and credentials if the store is empty; else return None.

    Fixed values from the environment are honoured and never printed back.
    """
    if settings.admin_token is not None:
        await accounts.set_meta(
            ADMIN_HASH_META, hash_secret(settings.admin_token.get_secret_value())
        )
    fixed_key = (
        settings.bootstrap_api_key.get_secret_value() if settings.bootstrap_api_key else None
    )
    if await accounts.count_accounts():
        if fixed_key and await accounts.find_key(hash_secret(fixed_key)) is None:
            account = await accounts.get_account_by_name(DEFAULT_ACCOUNT)
            if account is not None:
                await _create_bootstrap_key(accounts, account.id, fixed_key)
        return None
    admin = None
    if settings.admin_token is None:
        admin = new_admin_token()
        _, ours = await accounts.claim_meta(ADMIN_HASH_META, hash_secret(admin))
        if not ours:
            admin = None
    try:
        account = await accounts.create_account(DEFAULT_ACCOUNT)
    except Conflict:  # another replica bootstrapped at the same moment
        return None
    if settings.bootstrap_balance:
        await accounts.top_up(account.id, settings.bootstrap_balance, "starting credit")
    key = await _create_bootstrap_key(accounts, account.id, fixed_key)
    return Credentials(admin_token=admin, api_key=None if fixed_key else key)


async def _create_bootstrap_key(
    accounts: AccountStore, account_id: int, fixed: str | None
) -> str | None:
    """Store the bootstrap key (``fixed``, or a new one); its plaintext, or None when
    another replica stored the same fixed key first."""
    key = issue_key(fixed)
    try:
        await accounts.create_key(
            account_id=account_id, name="bootstrap", prefix=key.prefix, key_hash=key.hash
        )
    except Conflict:
        return None
    return key.plaintext
