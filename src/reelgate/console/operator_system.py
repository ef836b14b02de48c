"""The operator's view of the gateway: a dashboard (tasks now, outcomes per model and per
channel, completion lag), the channels (health, budget, cool-downs, enable/disable) and
the price table."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from reelgate.api.deps import gateway
from reelgate.console.auth import operator, operator_change
from reelgate.console.catalog import price_table
from reelgate.console.charts import bar_chart
from reelgate.console.sessions import Session
from reelgate.console.web import ConsoleRoute, redirect, render
from reelgate.domain.tasks import TaskStatus

router = APIRouter(prefix="/console/admin", route_class=ConsoleRoute, include_in_schema=False)
Operator = Annotated[Session, Depends(operator)]
OperatorChange = Annotated[Session, Depends(operator_change)]
WINDOW = timedelta(days=7)


def _samples(registry: Any, metric: str) -> list[tuple[dict[str, str], float]]:
    """A metric's samples from the gateway's Prometheus registry (what /metrics shows)."""
    out = []
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == metric:
                out.append((dict(sample.labels), float(sample.value)))
    return out


def _mean(registry: Any, histogram: str) -> float | None:
    total = registry.get_sample_value(f"{histogram}_sum")
    count = registry.get_sample_value(f"{histogram}_count")
    return total / count if total is not None and count else None


@router.get("")
async def dashboard(request: Request, session: Operator) -> Response:
    gw = gateway(request)
    registry = gw.metrics.registry
    now_by_status = {
        status.value: int(registry.get_sample_value("reelgate_tasks", {"status": status}) or 0)
        for status in TaskStatus
    }
    rows = await gw.account_service.usage(
        account_id=None,
        api_key_id=None,
        model=None,
        created_from=datetime.now(UTC) - WINDOW,
        created_to=None,
    )
    per_model: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        per_model[r.model][0] += r.tasks
        per_model[r.model][1] += r.succeeded
    per_channel: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for labels, value in _samples(registry, "reelgate_upstream_calls_total"):
        per_channel[labels["channel"]][labels["outcome"]] += int(value)
    ctx = {
        "now": now_by_status,
        "running": now_by_status["queued"] + now_by_status["running"] + now_by_status["submitting"],
        "per_model": dict(per_model),
        "model_chart": bar_chart(
            "Tasks succeeded per model, last 7 days",
            [(m, ok, f"{ok} of {n}") for m, (n, ok) in per_model.items()],
        ),
        "per_channel": {k: dict(v) for k, v in per_channel.items()},
        "completion_s": _mean(registry, "reelgate_task_duration_seconds"),
        "poll_lag_s": _mean(registry, "reelgate_poll_delay_seconds"),
    }
    return render(request, "admin_dashboard.html", ctx, session=session)


@router.get("/channels")
async def channels(request: Request, session: Operator) -> Response:
    gw = gateway(request)
    await gw.router.refresh(force=True)
    states = gw.router.states()
    used = await gw.router.budget_used()
    now = gw.router.now()
    rows = []
    for channel in await gw.channels.list_all():
        state = states.get(channel.name)
        rows.append(
            {
                "channel": channel,
                "in_flight": state.in_flight if state else 0,
                "used": used.get(channel.name, 0),
                "cooling_s": max(0.0, state.cooling_until - now) if state else 0.0,
            }
        )
    return render(request, "admin_channels.html", {"rows": rows}, session=session)


async def _enable(request: Request, name: str, session: Session, enabled: bool) -> Response:
    channel = await gateway(request).channels.update(name, enabled=enabled)
    state = "enabled" if channel.enabled else "disabled"
    session.flash.append(f"Channel {channel.name} is {state}.")
    return redirect(request, "/console/admin/channels")


@router.post("/channels/{name}/enable")
async def enable(request: Request, name: str, session: OperatorChange) -> Response:
    return await _enable(request, name, session, True)


@router.post("/channels/{name}/disable")
async def disable(request: Request, name: str, session: OperatorChange) -> Response:
    return await _enable(request, name, session, False)


@router.get("/prices")
async def prices(request: Request, session: Operator) -> Response:
    table = price_table(gateway(request).settings.prices_file)
    rows = [
        (model, resolution, seconds, amount)
        for (model, resolution, seconds), amount in sorted(table.prices.items())
    ]
    return render(
        request, "admin_prices.html", {"rows": rows, "currency": table.currency}, session=session
    )
