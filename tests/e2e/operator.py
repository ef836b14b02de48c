"""What an operator does over the admin API, for end-to-end tests: accounts and keys."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support import ADMIN_TOKEN, Server

T2V = {"model": "T2V-01", "prompt": "a paper boat on a pond"}
T2V_PRICE = 43  # T2V-01, 720P, 6 s in the shipped price table


class Operator:
    """An admin API client that fails the test on any refusal it did not ask for."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = httpx.Client(
            base_url=server.url + "/admin/v1",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
            trust_env=False,
        )

    def __enter__(self) -> Operator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        resp = self.http.request(method, path, **kwargs)
        assert resp.status_code == expect, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def account(self, credit: int = 0, name: str | None = None) -> dict[str, Any]:
        body = {"name": name or f"acct-{uuid.uuid4().hex[:8]}", "initial_credit": credit}
        return self.call("POST", "/accounts", 201, json=body)  # type: ignore[no-any-return]

    def key(self, account_id: int, **limits: Any) -> dict[str, Any]:
        """A new key's object; ``key`` holds the plaintext, shown this once."""
        body = {"name": "test", **limits}
        return self.call("POST", f"/accounts/{account_id}/keys", 201, json=body)  # type: ignore[no-any-return]

    def client(self, credit: int = 1000, **limits: Any) -> tuple[int, dict[str, Any]]:
        """An account with credit and one key: (account id, key object)."""
        account = self.account(credit)
        return account["id"], self.key(account["id"], **limits)

    def balance(self, account_id: int) -> int:
        return int(self.call("GET", f"/accounts/{account_id}")["balance"])

    def top_up(self, account_id: int, amount: int) -> dict[str, Any]:
        return self.call("POST", f"/accounts/{account_id}/topup", json={"amount": amount})  # type: ignore[no-any-return]

    def ledger(self, account_id: int) -> list[dict[str, Any]]:
        return self.call("GET", f"/accounts/{account_id}/ledger")["data"]  # type: ignore[no-any-return]
