"""The operator's API under /admin/v1, behind the admin token."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.responses import Response

from reelgate.api.deps import Accounts, Operator, operator, price_table
from reelgate.api.params import InFlight, Rate, RowId, Text, UtcDatetime
from reelgate.api.platform import ERRORS
from reelgate.api.views import iso
from reelgate.domain import bounds
from reelgate.domain.accounts import Account, ApiKey
from reelgate.domain.pricing import PriceTable
from reelgate.wire import JSONResponse

# Each handler names its caller (``Operator``); the router checks it too, so that a route
# added here without it is still the operator's. FastAPI runs the check once a request.
router = APIRouter(
    prefix="/admin/v1", tags=["Admin"], dependencies=[Depends(operator)], responses=ERRORS
)


# Money is a JSON integer of minor units: strict, so that "10", 10.0 or true are refused
# rather than guessed at, and bounded, so that a typo cannot overflow a BIGINT balance.
MAX_AMOUNT = bounds.MAX_AMOUNT  # see reelgate.domain.bounds


class AccountCreate(BaseModel):
    name: Text = Field(min_length=1, max_length=200)
    initial_credit: StrictInt = Field(
        0, ge=0, le=MAX_AMOUNT, description="Minor units to start with."
    )
    rpm_limit: Rate | None = Field(
        None, description="Requests per minute over all of the account's keys together."
    )
    max_in_flight: InFlight | None = Field(
        None, description="Unfinished tasks at once over all of the account's keys."
    )


class AccountUpdate(BaseModel):
    """The fields sent are changed, the others kept; ``null`` clears a limit."""

    model_config = ConfigDict(extra="forbid")  # a misspelt limit must not pass silently

    rpm_limit: Rate | None = Field(
        None, description="Requests per minute over all of the account's keys; null: none."
    )
    max_in_flight: InFlight | None = Field(
        None, description="Unfinished tasks at once over all of the account's keys; null: none."
    )


class TopUp(BaseModel):
    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT, description="Minor units to add.")
    note: Text | None = Field(None, max_length=1000)


class KeyCreate(BaseModel):
    name: Text = Field(min_length=1, max_length=200)
    models: list[Text] | None = Field(None, description="Models it may use; all if left out.")
    rpm_limit: Rate | None = Field(None, description="Requests per minute.")
    max_in_flight: InFlight | None = Field(None, description="Unfinished tasks at once.")
    expires_at: UtcDatetime | None = None


def account_json(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "status": account.status,
        "balance": account.balance,
        "rpm_limit": account.rpm_limit,
        "max_in_flight": account.max_in_flight,
        "created_at": iso(account.created_at),
    }


def key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "account_id": key.account_id,
        "name": key.name,
        "prefix": key.prefix,
        "models": key.models,
        "rpm_limit": key.rpm_limit,
        "max_in_flight": key.max_in_flight,
        "expires_at": iso(key.expires_at),
        "revoked_at": iso(key.revoked_at),
        "created_at": iso(key.created_at),
    }


@router.post("/accounts", status_code=201, summary="Create an account")
async def create_account(_: Operator, accounts: Accounts, body: AccountCreate) -> Response:
    account = await accounts.create(
        body.name,
        body.initial_credit,
        rpm_limit=body.rpm_limit,
        max_in_flight=body.max_in_flight,
    )
    return JSONResponse(account_json(account), status_code=201)


@router.get("/accounts", summary="List accounts")
async def list_accounts(_: Operator, accounts: Accounts) -> Response:
    listed = await accounts.list_all()
    return JSONResponse({"data": [account_json(a) for a in listed]})


@router.get("/accounts/{account_id}", summary="Show an account")
async def show_account(_: Operator, accounts: Accounts, account_id: RowId) -> Response:
    return JSONResponse(account_json(await accounts.get(account_id)))


@router.patch("/accounts/{account_id}", summary="Change an account's limits")
async def update_account(
    _: Operator, accounts: Accounts, account_id: RowId, body: AccountUpdate
) -> Response:
    """``rpm_limit`` and ``max_in_flight`` bind all of the account's keys together, next
    to each key's own limits; a change holds for the next request."""
    changes = body.model_dump(exclude_unset=True)
    return JSONResponse(account_json(await accounts.set_limits(account_id, changes)))


@router.post("/accounts/{account_id}/topup", summary="Add credit to an account")
async def top_up(_: Operator, accounts: Accounts, account_id: RowId, body: TopUp) -> Response:
    return JSONResponse(account_json(await accounts.top_up(account_id, body.amount, body.note)))


@router.post("/accounts/{account_id}/suspend", summary="Suspend an account: its keys stop")
async def suspend(_: Operator, accounts: Accounts, account_id: RowId) -> Response:
    return JSONResponse(account_json(await accounts.set_status(account_id, "suspended")))


@router.post("/accounts/{account_id}/resume", summary="Resume a suspended account")
async def resume(_: Operator, accounts: Accounts, account_id: RowId) -> Response:
    return JSONResponse(account_json(await accounts.set_status(account_id, "active")))


@router.post("/accounts/{account_id}/keys", status_code=201, summary="Issue an API key")
async def create_key(
    _: Operator, accounts: Accounts, account_id: RowId, body: KeyCreate
) -> Response:
    """The answer holds the key itself, once: only its hash is stored."""
    key, issued = await accounts.create_key(
        account_id,
        name=body.name,
        models=body.models,
        rpm_limit=body.rpm_limit,
        max_in_flight=body.max_in_flight,
        expires_at=body.expires_at,
    )
    return JSONResponse({**key_json(key), "key": issued.plaintext}, status_code=201)


@router.get("/accounts/{account_id}/keys", summary="List an account's keys")
async def list_keys(_: Operator, accounts: Accounts, account_id: RowId) -> Response:
    keys = await accounts.list_keys(account_id)
    return JSONResponse({"data": [key_json(k) for k in keys]})


@router.post("/keys/{key_id}/revoke", summary="Revoke an API key")
async def revoke_key(_: Operator, accounts: Accounts, key_id: RowId) -> Response:
    return JSONResponse(key_json(await accounts.revoke_key(key_id)))


@router.get("/accounts/{account_id}/ledger", summary="An account's ledger, newest first")
async def account_ledger(
    _: Operator,
    accounts: Accounts,
    account_id: RowId,
    before: Annotated[RowId | None, Query(description="Entries with a smaller id")] = None,
    limit: Annotated[int, Query(ge=1, description="At most 1000")] = 100,
) -> Response:
    entries = await accounts.ledger(account_id, before, min(limit, 1000))
    data = [{**asdict(e), "created_at": iso(e.created_at)} for e in entries]
    return JSONResponse({"data": data})


@router.get("/usage", summary="Tasks, seconds of video and spend per account, key, model, day")
async def usage(
    _: Operator,
    accounts: Accounts,
    account_id: RowId | None = None,
    key_id: RowId | None = None,
    model: str | None = None,
    created_after: UtcDatetime | None = None,
    created_before: UtcDatetime | None = None,
) -> Response:
    rows = await accounts.usage(
        account_id=account_id,
        api_key_id=key_id,
        model=model,
        created_from=created_after,
        created_to=created_before,
    )
    return JSONResponse({"data": [asdict(r) for r in rows]})


@router.get("/prices", summary="The price table and its currency")
async def prices(_: Operator, table: Annotated[PriceTable, Depends(price_table)]) -> Response:
    """Prices in minor units of ``currency``, per model, keyed as ``prices.toml`` keys
    them: ``<resolution>-<seconds>s`` per task; ``<resolution>-per-s``, ``images-free``
    and ``image`` for a model billed by the second (docs/billing.md)."""
    return JSONResponse({"currency": table.currency, "models": table.entries()})
