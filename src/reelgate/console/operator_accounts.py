"""The operator's accounts and keys: create, suspend and resume, top up, issue and revoke
keys with their limits. Each change is one call of the same services as /admin/v1."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from reelgate.api.deps import gateway
from reelgate.api.params import RowId
from reelgate.console.auth import operator, operator_change
from reelgate.console.catalog import price_table
from reelgate.console.forms import text, whole
from reelgate.console.sessions import Session
from reelgate.console.web import ConsoleRoute, redirect, render
from reelgate.domain import bounds
from reelgate.domain.catalog import MODELS
from reelgate.domain.tasks import TaskFilter

router = APIRouter(prefix="/console/admin", route_class=ConsoleRoute, include_in_schema=False)
Operator = Annotated[Session, Depends(operator)]
OperatorChange = Annotated[Session, Depends(operator_change)]


@router.get("/accounts")
async def accounts(request: Request, session: Operator) -> Response:
    gw = gateway(request)
    ctx = {
        "accounts": await gw.account_service.list_all(),
        "currency": price_table(gw.settings.prices_file).currency,
    }
    return render(request, "admin_accounts.html", ctx, session=session)


@router.post("/accounts")
async def create_account(request: Request, session: OperatorChange) -> Response:
    form = await request.form()
    name = text(form, "name", required=True)
    assert name is not None
    credit = whole(form, "initial_credit", low=0, high=bounds.MAX_AMOUNT) or 0
    account = await gateway(request).account_service.create(name, credit)
    session.flash.append(f"Account {account.name} was created.")
    return redirect(request, f"/console/admin/accounts/{account.id}")


async def _account_page(
    request: Request, session: Session, account_id: int, issued: str | None = None
) -> Response:
    gw = gateway(request)
    service = gw.account_service
    account = await service.get(account_id)
    recent, _ = await gw.task_service.list_page(account_id, TaskFilter(), None, 20)
    ctx = {
        "account": account,
        "keys": await service.list_keys(account_id),
        "ledger": await service.ledger(account_id, None, 20),
        "tasks": recent,
        "currency": price_table(gw.settings.prices_file).currency,
        "models": list(MODELS),
        "issued": issued,
    }
    return render(request, "admin_account.html", ctx, session=session)


@router.get("/accounts/{account_id}")
async def account(request: Request, account_id: RowId, session: Operator) -> Response:
    return await _account_page(request, session, account_id)


@router.post("/accounts/{account_id}/topup")
async def top_up(request: Request, account_id: RowId, session: OperatorChange) -> Response:
    form = await request.form()
    amount = whole(form, "amount", low=1, high=bounds.MAX_AMOUNT, required=True)
    assert amount is not None
    note = text(form, "note", max_len=1000)
    await gateway(request).account_service.top_up(account_id, amount, note)
    session.flash.append("The top-up was added to the balance.")
    return redirect(request, f"/console/admin/accounts/{account_id}")


async def _set_status(request: Request, account_id: int, session: Session, status: str) -> Response:
    account = await gateway(request).account_service.set_status(account_id, status)
    session.flash.append(f"Account {account.name} is {account.status} now.")
    return redirect(request, f"/console/admin/accounts/{account_id}")


@router.post("/accounts/{account_id}/suspend")
async def suspend(request: Request, account_id: RowId, session: OperatorChange) -> Response:
    return await _set_status(request, account_id, session, "suspended")


@router.post("/accounts/{account_id}/resume")
async def resume(request: Request, account_id: RowId, session: OperatorChange) -> Response:
    return await _set_status(request, account_id, session, "active")


@router.post("/accounts/{account_id}/keys")
async def issue_key(request: Request, account_id: RowId, session: OperatorChange) -> Response:
    """The new key is on this answer's page only, once: only its hash is stored."""
    form = await request.form()
    name = text(form, "name", required=True)
    assert name is not None
    models = [m for m in form.getlist("models") if isinstance(m, str) and m]
    _, issued = await gateway(request).account_service.create_key(
        account_id,
        name=name,
        models=models or None,
        rpm_limit=whole(form, "rpm_limit", low=1, high=bounds.MAX_RATE),
        max_in_flight=whole(form, "max_in_flight", low=1, high=bounds.MAX_IN_FLIGHT),
    )
    return await _account_page(request, session, account_id, issued=issued.plaintext)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: RowId, session: OperatorChange) -> Response:
    key = await gateway(request).account_service.revoke_key(key_id)
    session.flash.append(f"Key {key.name} ({key.prefix}…) was revoked.")
    return redirect(request, f"/console/admin/accounts/{key.account_id}")
