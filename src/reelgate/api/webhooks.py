"""Callback deliveries on /v1 (history, redelivery) and webhook secrets on /admin/v1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from reelgate.api.admin import _admin
from reelgate.api.deps import gateway
from reelgate.api.params import RowId
from reelgate.api.platform import ERRORS
from reelgate.api.views import iso
from reelgate.domain.deliveries import Delivery
from reelgate.domain.webhooks import new_secret
from reelgate.errors import NotFound
from reelgate.wire import JSONResponse, bearer_token

router = APIRouter(responses=ERRORS)
ROTATION_GRACE = timedelta(hours=24)


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
async def list_deliveries(request: Request, task_id: str) -> Response:
    """Each status change sent to the task's ``callback_url``, with its delivery history."""
    gw = gateway(request)
    key = await gw.auth.api_key(bearer_token(request))
    task = await gw.task_service.get(key.account_id, task_id)
    items = await gw.deliveries.for_task(task.id)
    return JSONResponse({"data": [delivery_json(d) for d in items]})


@router.post(
    "/v1/tasks/{task_id}/deliveries/{delivery_id}/redeliver",
    tags=["Tasks"],
    summary="Send a callback again (same webhook-id)",
)
async def redeliver(request: Request, task_id: str, delivery_id: RowId) -> Response:
    gw = gateway(request)
    key = await gw.auth.api_key(bearer_token(request))
    task = await gw.task_service.get(key.account_id, task_id)
    delivery = await gw.deliveries.redeliver(task.id, delivery_id, datetime.now(UTC))
    if delivery is None:
        raise NotFound("no such delivery for this task")
    gw.dispatcher.wake()
    return JSONResponse(delivery_json(delivery))


@router.post(
    "/admin/v1/accounts/{account_id}/webhook-secret",
    status_code=201,
    tags=["Admin"],
    dependencies=[Depends(_admin)],
    summary="Issue or rotate an account's webhook signing secret",
)
async def rotate_secret(request: Request, account_id: RowId) -> Response:
    """A new ``whsec_`` secret signs from now on; the previous ones keep signing for 24
    hours, so receivers can switch without missing a callback."""
    gw = gateway(request)
    await gw.account_service.get(account_id)
    secret = new_secret()
    await gw.deliveries.rotate_secret(account_id, secret, datetime.now(UTC), ROTATION_GRACE)
    return JSONResponse({"account_id": account_id, "secret": secret}, status_code=201)


@router.get(
    "/admin/v1/accounts/{account_id}/webhook-secret",
    tags=["Admin"],
    dependencies=[Depends(_admin)],
    summary="The secrets that sign an account's callbacks now, newest first",
)
async def show_secrets(request: Request, account_id: RowId) -> Response:
    gw = gateway(request)
    await gw.account_service.get(account_id)
    secrets_ = await gw.deliveries.active_secrets(account_id, datetime.now(UTC))
    return JSONResponse({"account_id": account_id, "secrets": secrets_})
