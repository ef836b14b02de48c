"""Callback deliveries on /v1 (history, redelivery) and webhook secrets on /admin/v1."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from reelgate.api.deps import Accounts, ApiCaller, Deliveries, Operator, Tasks
from reelgate.api.params import RowId
from reelgate.api.platform import ERRORS
from reelgate.api.views import iso
from reelgate.domain.deliveries import Delivery
from reelgate.wire import JSONResponse

router = APIRouter(responses=ERRORS)


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "webhook_id": d.msg_id,
        "seq": d.seq,
        "url": d.url,
        "state": d.state,
        "attempts": d.attempts,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "next_attempt_at": iso(d.next_attempt_at) if d.state == "pending" else None,
        "created_at": iso(d.created_at),
        "delivered_at": iso(d.delivered_at),
        "body": d.body,
    }


@router.get("/v1/tasks/{task_id}/deliveries", tags=["Tasks"], summary="A task's callbacks")
async def list_deliveries(
    caller: ApiCaller, tasks: Tasks, deliveries: Deliveries, task_id: str
) -> Response:
    """Each status change sent to the task's ``callback_url``, with its delivery history."""
    key = await caller.key()
    task = await tasks.get(key.account_id, task_id)
    items = await deliveries.for_task(task)
    return JSONResponse({"data": [delivery_json(d) for d in items]})


@router.post(
    "/v1/tasks/{task_id}/deliveries/{delivery_id}/redeliver",
    tags=["Tasks"],
    summary="Send a callback again (same webhook-id)",
)
async def redeliver(
    caller: ApiCaller, tasks: Tasks, deliveries: Deliveries, task_id: str, delivery_id: RowId
) -> Response:
    key = await caller.key()
    task = await tasks.get(key.account_id, task_id)
    return JSONResponse(delivery_json(await deliveries.redeliver(task, delivery_id)))


@router.post(
    "/admin/v1/accounts/{account_id}/webhook-secret",
    status_code=201,
    tags=["Admin"],
    summary="Issue or rotate an account's webhook signing secret",
)
async def rotate_secret(
    _: Operator, accounts: Accounts, deliveries: Deliveries, account_id: RowId
) -> Response:
    """A new ``whsec_`` secret signs from now on; the previous ones keep signing for 24
    hours, so receivers can switch without missing a callback."""
    await accounts.get(account_id)  # 404 for an account that does not exist
    secret = await deliveries.rotate_secret(account_id)
    return JSONResponse({"account_id": account_id, "secret": secret}, status_code=201)


@router.get(
    "/admin/v1/accounts/{account_id}/webhook-secret",
    tags=["Admin"],
    summary="The secrets that sign an account's callbacks now, newest first",
)
async def show_secrets(
    _: Operator, accounts: Accounts, deliveries: Deliveries, account_id: RowId
) -> Response:
    await accounts.get(account_id)
    secrets_ = await deliveries.secrets(account_id)
    return JSONResponse({"account_id": account_id, "secrets": secrets_})
