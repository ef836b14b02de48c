"""What an operator does over the admin API, for in-process tests: accounts and keys.
The same calls as ``tests/e2e/operator.py``, over the app's ASGI transport."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.operator import T2V, T2V_PRICE
from tests.inprocess.harness import InProcess

__all__ = ["T2V", "T2V_PRICE", "Operator"]


class Operator:
    """An admin API client that fails the test on any refusal it did not ask for."""

    def __init__(self, gateway: InProcess) -> None:
        self.gateway = gateway
        self.http = gateway.admin()

    async def __aenter__(self) -> Operator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        resp = await self.http.request(method, path, **kwargs)
        assert resp.status_code == expect, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()

    async def account(self, credit: int = 0, name: str | None = None) -> dict[str, Any]:
        body = {"name": name or f"acct-{uuid.uuid4().hex[:8]}", "initial_credit": credit}
        return await self.call("POST", "/accounts", 201, json=body)  # type: ignore[no-any-return]

    async def key(self, account_id: int, **limits: Any) -> dict[str, Any]:
        """A new key's object; ``key`` holds the plaintext, shown this once."""
        body = {"name": "test", **limits}
        return await self.call("POST", f"/accounts/{account_id}/keys", 201, json=body)  # type: ignore[no-any-return]

    async def client(self, credit: int = 1000, **limits: Any) -> tuple[int, dict[str, Any]]:
        """An account with credit and one key: (account id, key object)."""
        account = await self.account(credit)
        return account["id"], await self.key(account["id"], **limits)

    async def balance(self, account_id: int) -> int:
        return int((await self.call("GET", f"/accounts/{account_id}"))["balance"])

    async def top_up(self, account_id: int, amount: int) -> dict[str, Any]:
        return await self.call("POST", f"/accounts/{account_id}/topup", json={"amount": amount})  # type: ignore[no-any-return]

    async def ledger(self, account_id: int) -> list[dict[str, Any]]:
        return (await self.call("GET", f"/accounts/{account_id}/ledger"))["data"]  # type: ignore[no-any-return]
