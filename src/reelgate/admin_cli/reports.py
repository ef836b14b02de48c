"""``reelgate usage`` and ``reelgate ledger``: what was spent, and every move of money."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from reelgate.admin_cli.client import admin
from reelgate.admin_cli.display import err, ledger_table, money, out, print_json
from reelgate.admin_cli.options import (
    DEFAULT_ADMIN_URL,
    AccountArg,
    JsonOpt,
    TokenOpt,
    UrlOpt,
    instant,
)


def usage(
    account: Annotated[int | None, typer.Option(help="Only this account.")] = None,
    key: Annotated[int | None, typer.Option(help="Only this key (its id).")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Tasks created at or after (ISO 8601, UTC unless a zone).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Tasks created before (ISO 8601, UTC unless a zone).")
    ] = None,
    url: UrlOpt = DEFAULT_ADMIN_URL,
    admin_token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tasks, seconds of video and spend per UTC day, account, key and model.

    Spend counts succeeded tasks only: a failed, refused or cancelled task is refunded.
    """
    params = {
        "account_id": account,
        "key_id": key,
        "model": model,
        "created_after": instant(since, "--since"),
        "created_before": instant(until, "--until"),
    }
    with admin(url, admin_token) as api:
        data = api.call("GET", "/usage", params=params)
        if as_json:
            print_json(data)
            return
        currency = api.currency()
    rows = data["data"]
    out.print(_usage_table(rows, currency) if rows else "no tasks match")


def _usage_table(rows: list[dict[str, Any]], currency: str | None) -> Table:
    """One row per day, account, key and model, and their totals in the footer."""
    table = Table(title="Usage", show_footer=bool(rows))
    totals = {
        "tasks": sum(r["tasks"] for r in rows),
        "succeeded": sum(r["succeeded"] for r in rows),
        "seconds": sum(r["seconds"] for r in rows),
    }
    for col in ("Day (UTC)", "Account", "Key", "Model"):
        table.add_column(col, footer="total" if col == "Day (UTC)" else "")
    for col in ("tasks", "succeeded", "seconds"):
        table.add_column(col.capitalize(), justify="right", footer=str(totals[col]))
    table.add_column(
        "Spend", justify="right", footer=money(sum(r["spend"] for r in rows), currency)
    )
    for r in rows:
        table.add_row(
            r["day"],
            str(r["account_id"]),
            str(r["api_key_id"]) if r["api_key_id"] is not None else "-",
            r["model"],
            str(r["tasks"]),
            str(r["succeeded"]),
            str(r["seconds"]),
            money(r["spend"], currency),
        )
    return table


def ledger(
    account_id: AccountArg,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Entries to show.")] = 50,
    before: Annotated[
        int | None, typer.Option(help="Only entries older than this entry id (paging).")
    ] = None,
    url: UrlOpt = DEFAULT_ADMIN_URL,
    admin_token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """An account's ledger, newest first, with the balance after each entry.

    Kinds: topup, reserve (at create), capture (on success), release (refused upstream)
    and refund (failed, cancelled or past its deadline).
    """
    with admin(url, admin_token) as api:
        data = api.call(
            "GET", f"/accounts/{account_id}/ledger", params={"limit": limit, "before": before}
        )
        if as_json:
            print_json(data)
            return
        currency = api.currency()
    entries = data["data"]
    out.print(ledger_table(entries, currency, f"Ledger of account {account_id}"))
    if len(entries) == limit:
        err.print(f"older entries: --before {entries[-1]['id']}")
