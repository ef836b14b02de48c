"""First start: several replicas bootstrapping one empty store at the same moment."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from reelgate.services.auth import ADMIN_HASH_META
from reelgate.services.bootstrap import bootstrap, sandbox_api_keys
from reelgate.services.keys import hash_secret
from reelgate.settings import Settings
from reelgate.store import database
from reelgate.store.accounts import AccountStore
from tests.support import fresh_database

FIXED_KEY = "sk-fixed-0123456789abcdefghijklmnopqrstuvwx"


@pytest.mark.parametrize("fixed", [False, True], ids=["generated", "fixed-from-env"])
async def test_replicas_starting_together_bootstrap_once(tmp_path: Path, fixed: bool) -> None:
    settings = Settings(
        data_dir=tmp_path,
        admin_token=SecretStr("admin-token-from-env") if fixed else None,
        bootstrap_api_key=SecretStr(FIXED_KEY) if fixed else None,
    )
    with fresh_database(tmp_path) as url:
        engines = [database.create_engine(url) for _ in range(4)]  # one per replica
        try:
            await database.upgrade(engines[0])
            replicas = [AccountStore(engine) for engine in engines]
            for _ in range(3):  # a first start together, then restarts together
                results = await asyncio.gather(*(bootstrap(r, settings) for r in replicas))
            store = replicas[0]
            accounts = await store.list_accounts()
            assert [a.name for a in accounts] == ["default"]
            keys = await store.list_keys(accounts[0].id)
            assert len(keys) == 1
            if fixed:
                assert keys[0].prefix == FIXED_KEY[: len(keys[0].prefix)]
                admin_hash = await store.get_meta(ADMIN_HASH_META)
                assert admin_hash == hash_secret("admin-token-from-env")
            assert all(r is None for r in results)  # restarts print nothing
        finally:
            for engine in engines:
                await engine.dispose()


async def test_the_first_start_prints_one_key_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with fresh_database(tmp_path) as url:
        engines = [database.create_engine(url) for _ in range(3)]
        try:
            await database.upgrade(engines[0])
            results = await asyncio.gather(
                *(bootstrap(AccountStore(engine), settings) for engine in engines)
            )
            printed = [r for r in results if r is not None]
            assert len(printed) == 1 and printed[0].api_key and printed[0].admin_token
            found = await AccountStore(engines[0]).find_key(hash_secret(printed[0].api_key))
            assert found is not None
        finally:
            for engine in engines:
                await engine.dispose()


async def test_replicas_agree_on_one_generated_sandbox_key(tmp_path: Path) -> None:
    """The mounted sandbox's key: made once, kept, the same for every replica; the setting
    wins where it is set."""
    with fresh_database(tmp_path) as url:
        engines = [database.create_engine(url) for _ in range(4)]
        try:
            await database.upgrade(engines[0])
            replicas = [AccountStore(engine) for engine in engines]
            settings = Settings(data_dir=tmp_path)
            first = await asyncio.gather(*(sandbox_api_keys(r, settings) for r in replicas))
            again = await asyncio.gather(*(sandbox_api_keys(r, settings) for r in replicas))
            (key,) = first[0]
            assert key.startswith("sbx-") and len(key) > 40
            assert all(keys == [key] for keys in [*first, *again])
            fixed = Settings(data_dir=tmp_path, sandbox_api_keys=["key-a", "key-b"])
            assert await sandbox_api_keys(replicas[0], fixed) == ["key-a", "key-b"]
        finally:
            for engine in engines:
                await engine.dispose()
