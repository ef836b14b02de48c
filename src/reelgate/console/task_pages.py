"""A user's tasks: the list with filters and live rows, a task's page (history, callback
deliveries, request, video), cancel, redeliver, and the live event stream. Every lookup
goes through ``task_service.get(account_id, ...)``: a task of another account reads as
missing (404), exactly as on the API."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from reelgate.api.deps import gateway
from reelgate.api.params import RowId
from reelgate.api.sse import resume_after, task_event_stream
from reelgate.console.auth import User, user, user_change
from reelgate.console.task_view import task_view
from reelgate.console.web import ConsoleRoute, redirect, render
from reelgate.domain.catalog import MODELS
from reelgate.domain.tasks import TaskFilter
from reelgate.errors import NotFound

router = APIRouter(prefix="/console/tasks", route_class=ConsoleRoute, include_in_schema=False)

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
PAGE = 25


def _day(value: date | None, *, end: bool = False) -> datetime | None:
    """A date from the filter as a UTC bound: the end day is included."""
    if value is None:
        return None
    start = datetime.combine(value, time.min, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


@router.get("")
async def list_tasks(
    request: Request,
    who: Annotated[User, Depends(user)],
    status: Annotated[Status | None, Query()] = None,
    model: Annotated[str | None, Query(max_length=100)] = None,
    created_from: Annotated[date | None, Query(alias="from")] = None,
    created_to: Annotated[date | None, Query(alias="to")] = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    gw = gateway(request)
    model = model or None
    filters = TaskFilter(status, model, _day(created_from), _day(created_to, end=True))
    page, next_cursor = await gw.task_service.list_page(
        who.key.account_id, filters, cursor or None, PAGE
    )
    views = [await task_view(gw, t) for t in page]
    query = {
        "status": status or "",
        "model": model or "",
        "from": created_from.isoformat() if created_from else "",
        "to": created_to.isoformat() if created_to else "",
    }
    return render(
        request,
        "tasks.html",
        {
            "views": views,
            "next_cursor": next_cursor,
            "query": query,
            "models": list(MODELS),
            "statuses": Status.__args__,  # type: ignore[attr-defined]
        },
        session=who.session,
    )


@router.get("/{task_id}")
async def show_task(
    request: Request, task_id: str, who: Annotated[User, Depends(user)]
) -> Response:
    gw = gateway(request)
    task = await gw.task_service.get(who.key.account_id, task_id)
    events = await gw.task_service.events(task, 0)
    deliveries = await gw.deliveries.for_task(task.id)
    return render(
        request,
        "task.html",
        {"v": await task_view(gw, task), "events": events, "deliveries": deliveries},
        session=who.session,
    )


@router.get("/{task_id}/row")
async def task_row(request: Request, task_id: str, who: Annotated[User, Depends(user)]) -> Response:
    """One row of the list, for htmx to swap in while the task runs."""
    gw = gateway(request)
    task = await gw.task_service.get(who.key.account_id, task_id)
    return render(request, "_task_row.html", {"v": await task_view(gw, task)}, session=who.session)


@router.get("/{task_id}/card")
async def task_card(
    request: Request, task_id: str, who: Annotated[User, Depends(user)]
) -> Response:
    """The status and video part of a task's page, swapped in when its stream says done."""
    gw = gateway(request)
    task = await gw.task_service.get(who.key.account_id, task_id)
    return render(request, "_task_card.html", {"v": await task_view(gw, task)}, session=who.session)


@router.get("/{task_id}/events")
async def task_events(
    request: Request,
    task_id: str,
    who: Annotated[User, Depends(user)],
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    gw = gateway(request)
    task = await gw.task_service.get(who.key.account_id, task_id)
    # the API's own stream, the key's stream limit included
    return task_event_stream(gw.task_streams, who.key.id, task, resume_after(last_event_id))


@router.post("/{task_id}/cancel")
async def cancel_task(
    request: Request, task_id: str, who: Annotated[User, Depends(user_change)]
) -> Response:
    task = await gateway(request).task_service.cancel(who.key.account_id, task_id)
    who.session.flash.append(f"Task {task.platform_id} was cancelled and refunded.")
    return redirect(request, f"/console/tasks/{task.platform_id}")


@router.post("/{task_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request,
    task_id: str,
    delivery_id: RowId,
    who: Annotated[User, Depends(user_change)],
) -> Response:
    gw = gateway(request)
    task = await gw.task_service.get(who.key.account_id, task_id)
    delivery = await gw.deliveries.redeliver(task.id, delivery_id, datetime.now(UTC))
    if delivery is None:
        raise NotFound("no such delivery for this task")
    gw.dispatcher.wake()
    who.session.flash.append(f"Callback {delivery.seq} will be sent again.")
    return redirect(request, f"/console/tasks/{task.platform_id}")
