"""A user's money: the balance, spending per day and per model over the last days (charts
and tables), and the ledger, newest first."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from reelgate.api.deps import gateway
from reelgate.api.params import RowId
from reelgate.console.auth import User, user
from reelgate.console.catalog import price_table
from reelgate.console.charts import bar_chart
from reelgate.console.web import ConsoleRoute, money, render

router = APIRouter(prefix="/console/usage", route_class=ConsoleRoute, include_in_schema=False)

DAYS = 30
LEDGER_PAGE = 50


def totals(rows: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Summed by label, in the order labels first appear."""
    sums: dict[str, int] = defaultdict(int)
    for label, value in rows:
        sums[label] += value
    return list(sums.items())


@router.get("")
async def usage_page(
    request: Request,
    who: Annotated[User, Depends(user)],
    before: Annotated[RowId | None, Query()] = None,
) -> Response:
    gw = gateway(request)
    service = gw.account_service
    account_id = who.key.account_id
    currency = price_table(gw.settings.prices_file).currency
    since = datetime.now(UTC) - timedelta(days=DAYS)
    rows = await service.usage(
        account_id=account_id, api_key_id=None, model=None, created_from=since, created_to=None
    )
    per_day = totals((r.day, r.spend) for r in rows)
    per_model = totals((r.model, r.spend) for r in rows)
    ledger = await service.ledger(account_id, before, LEDGER_PAGE)
    ctx = {
        "account": await service.get(account_id),
        "currency": currency,
        "days": DAYS,
        "per_day": per_day,
        "per_model": per_model,
        "day_chart": bar_chart(
            f"Spending per day, last {DAYS} days",
            [(d, v, money(v, currency)) for d, v in per_day],
        ),
        "model_chart": bar_chart(
            "Spending per model", [(m, v, money(v, currency)) for m, v in per_model]
        ),
        "ledger": ledger,
        "next_before": ledger[-1].id if len(ledger) == LEDGER_PAGE else None,
        "tasks": sum(r.tasks for r in rows),
        "succeeded": sum(r.succeeded for r in rows),
    }
    return render(request, "usage.html", ctx, session=who.session)
