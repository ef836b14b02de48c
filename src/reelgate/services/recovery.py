"""Regaining access from the store itself, for an operator who lost the credentials.

The first start prints the admin token and an API key once and keeps only their hashes;
``reelgate recover`` (recover_cli.py) uses these functions to issue new ones straight in
the store, with no admin token and no running gateway needed. Whoever can open the store
owns the gateway anyway, so this grants nothing new.
"""

from __future__ import annotations

from reelgate.errors import NotFound
from reelgate.services.auth import ADMIN_HASH_META
from reelgate.services.keys import hash_secret, issue_key, new_admin_token
from reelgate.store.accounts import Account, AccountStore


async def replace_admin_token(accounts: AccountStore) -> str:
    """A new admin token; its hash replaces the old one, which stops working."""
    token = new_admin_token()
    await accounts.set_meta(ADMIN_HASH_META, hash_secret(token))
    return token


async def find_account(accounts: AccountStore, ref: str) -> Account:
    """An account by its id (digits) or its name."""
    by_id = ref.isdigit() and int(ref) < 2**63  # past a BIGINT it can only be a name
    found = await accounts.get_account(int(ref)) if by_id else None
    if found is None:
        found = await accounts.get_account_by_name(ref)
    if found is None:
        raise NotFound(f"no account {ref!r} in this store")
    return found


async def issue_api_key(accounts: AccountStore, account: Account, name: str) -> str:
    """A new API key for the account (its other keys stay as they are); its plaintext."""
    key = issue_key()
    await accounts.create_key(
        account_id=account.id, name=name, prefix=key.prefix, key_hash=key.hash
    )
    return key.plaintext
