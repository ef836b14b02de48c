"""The operator's API under /admin/v1, behind the admin token."""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.responses import Response

from reelgate.api.deps import gateway
from reelgate.api.params import InFlight, Rate, RowId, Text, UtcDatetime
from reelgate.api.platform import ERRORS
from reelgate.api.views import iso
from reelgate.domain import bounds
from reelgate.domain.accounts import Account, ApiKey
from reelgate.domain.pricing import PriceTable
from reelgate.wire import JSONResponse, bearer_token


async def _admin(request: Request) -> None:
    await gateway(request).auth.admin(bearer_token(request))


router = APIRouter(
    prefix="/admin/v1", tags=["Admin"], dependencies=[Depends(_admin)], responses=ERRORS
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
async def create_account(request: Request, body: AccountCreate) -> Response:
    account = await gateway(request).account_service.create(
        body.name,
        body.initial_credit,
        rpm_limit=body.rpm_limit,
        max_in_flight=body.max_in_flight,
    )
    return JSONResponse(account_json(account), status_code=201)


@router.get("/accounts", summary="List accounts")
async def list_accounts(request: Request) -> Response:
    accounts = await gateway(request).account_service.list_all()
    return JSONResponse({"data": [account_json(a) for a in accounts]})


@router.get("/accounts/{account_id}", summary="Show an account")
async def show_account(request: Request, account_id: RowId) -> Response:
    return JSONResponse(account_json(await gateway(request).account_service.get(account_id)))


@router.patch("/accounts/{account_id}", summary="Change an account's limits")
async def update_account(request: Request, account_id: RowId, body: AccountUpdate) -> Response:
    """``rpm_limit`` and ``max_in_flight`` bind all of the account's keys together, next
    to each key's own limits; a change holds for the next request."""
    service = gateway(request).account_service
    changes = body.model_dump(exclude_unset=True)
    return JSONResponse(account_json(await service.set_limits(account_id, changes)))


@router.post("/accounts/{account_id}/topup", summary="Add credit to an account")
async def top_up(request: Request, account_id: RowId, body: TopUp) -> Response:
    service = gateway(request).account_service
    return JSONResponse(account_json(await service.top_up(account_id, body.amount, body.note)))


@router.post("/accounts/{account_id}/suspend", summary="Suspend an account: its keys stop")
async def suspend(request: Request, account_id: RowId) -> Response:
    service = gateway(request).account_service
    return JSONResponse(account_json(await service.set_status(account_id, "suspended")))


@router.post("/accounts/{account_id}/resume", summary="Resume a suspended account")
async def resume(request: Request, account_id: RowId) -> Response:
    service = gateway(request).account_service
    return JSONResponse(account_json(await service.set_status(account_id, "active")))


@router.post("/accounts/{account_id}/keys", status_code=201, summary="Issue an API key")
async def create_key(request: Request, account_id: RowId, body: KeyCreate) -> Response:
    """The answer holds the key itself, once: only its hash is stored."""
    key, issued = await gateway(request).account_service.create_key(
        account_id,
        name=body.name,
        models=body.models,
        rpm_limit=body.rpm_limit,
        max_in_flight=body.max_in_flight,
        expires_at=body.expires_at,
    )
    return JSONResponse({**key_json(key), "key": issued.plaintext}, status_code=201)


@router.get("/accounts/{account_id}/keys", summary="List an account's keys")
async def list_keys(request: Request, account_id: RowId) -> Response:
    keys = await gateway(request).account_service.list_keys(account_id)
    return JSONResponse({"data": [key_json(k) for k in keys]})


@router.post("/keys/{key_id}/revoke", summary="Revoke an API key")
async def revoke_key(request: Request, key_id: RowId) -> Response:
    return JSONResponse(key_json(await gateway(request).account_service.revoke_key(key_id)))


@router.get("/accounts/{account_id}/ledger", summary="An account's ledger, newest first")
async def account_ledger(
    request: Request,
    account_id: RowId,
    before: Annotated[RowId | None, Query(description="Entries with a smaller id")] = None,
    limit: Annotated[int, Query(ge=1, description="At most 1000")] = 100,
) -> Response:
    entries = await gateway(request).account_service.ledger(account_id, before, min(limit, 1000))
    data = [{**asdict(e), "created_at": iso(e.created_at)} for e in entries]
    return JSONResponse({"data": data})


@router.get("/usage", summary="Tasks, seconds of video and spend per account, key, model, day")
async def usage(
    request: Request,
    account_id: RowId | None = None,
    key_id: RowId | None = None,
    model: str | None = None,
    created_after: UtcDatetime | None = None,
    created_before: UtcDatetime | None = None,
) -> Response:
    rows = await gateway(request).account_service.usage(
        account_id=account_id,
        api_key_id=key_id,
        model=model,
        created_from=created_after,
        created_to=created_before,
    )
    return JSONResponse({"data": [asdict(r) for r in rows]})


@lru_cache(maxsize=4)
def _price_table(path: Path | None) -> PriceTable:
    return PriceTable.load(path)


@router.get("/prices", summary="The price table and its currency")
async def prices(request: Request) -> Response:
    """Prices in minor units of ``currency``, per model and ``<resolution>-<seconds>s``."""
    table = _price_table(gateway(request).settings.prices_file)
    models: dict[str, dict[str, int]] = {}
    for (model, resolution, seconds), amount in sorted(table.prices.items()):
        models.setdefault(model, {})[f"{resolution}-{seconds}s"] = amount
    return JSONResponse({"currency": table.currency, "models": models})
