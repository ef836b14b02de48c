"""What the operator sees: money in people's units, times, and the tables of accounts,
keys and ledger entries. Answers go to stdout (they can be piped), notes to stderr."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console(soft_wrap=True)  # tables and answers: stdout, so they can be piped
err = Console(stderr=True, soft_wrap=True)  # errors and notes

# ISO 4217 currencies whose minor unit is not a hundredth; every other one has two digits.
_MINOR_DIGITS = {
    **dict.fromkeys(("JPY", "KRW", "VND", "CLP", "ISK", "UGX", "PYG", "XAF", "XOF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}

# On a narrow terminal cells wrap at spaces: money as "1,000.00 USD" over "(100000)",
# times as the date over the time; these widths keep Rich from squeezing them to "…".
_MIN_WIDTH = {
    "Entry": 5,
    "Kind": 7,
    "State": 7,
    "Status": 9,
    "Prefix": 11,
    "Amount": 12,
    "Balance": 12,
    "Balance after": 12,
    "When (UTC)": 10,
    "Created (UTC)": 10,
    "Expires (UTC)": 10,
}


def money(amount: int, currency: str | None) -> str:
    """``1,000.00 USD (100000)``: the amount for people, then the exact minor units."""
    if currency is None:
        return f"{amount:,} (minor units)"
    digits = _MINOR_DIGITS.get(currency.upper(), 2)
    value = Decimal(amount).scaleb(-digits)  # exact: no float ever holds money here
    return f"{value:,.{digits}f} {currency} [dim]({amount})[/]"


def when(value: str | None) -> str:
    return value.replace("T", " ")[:19] if value else "-"


def print_json(data: Any) -> None:
    # plain print: Rich would wrap long lines and re-colour the text
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _columns(table: Table, names: tuple[str, ...], right: tuple[str, ...]) -> None:
    for col in names:
        table.add_column(
            col, justify="right" if col in right else "left", min_width=_MIN_WIDTH.get(col)
        )


def account_table(accounts: list[dict[str, Any]], currency: str | None) -> Table:
    table = Table(title="Accounts" if len(accounts) != 1 else None)
    _columns(
        table,
        ("ID", "Name", "Status", "Balance", "RPM", "In flight", "Created (UTC)"),
        right=("ID", "Balance", "RPM", "In flight"),
    )
    for a in accounts:
        status = a["status"] if a["status"] == "active" else f"[yellow]{a['status']}[/]"
        table.add_row(
            str(a["id"]),
            escape(a["name"]),
            status,
            money(a["balance"], currency),
            str(a["rpm_limit"]) if a.get("rpm_limit") else "-",
            str(a["max_in_flight"]) if a.get("max_in_flight") else "-",
            when(a["created_at"]),
        )
    return table


def ledger_table(entries: list[dict[str, Any]], currency: str | None, title: str) -> Table:
    table = Table(title=title)
    _columns(
        table,
        ("Entry", "When (UTC)", "Kind", "Amount", "Balance after", "Task", "Note"),
        right=("Entry", "Amount", "Balance after"),
    )
    for e in entries:
        task = e.get("platform_id") or (str(e["task_id"]) if e.get("task_id") else "-")
        table.add_row(
            str(e["id"]),
            when(e["created_at"]),
            e["kind"],
            money(e["amount"], currency),
            money(e["balance_after"], currency),
            task,
            escape(e.get("note") or ""),
        )
    return table


def _key_state(key: dict[str, Any]) -> str:
    if key.get("revoked_at"):
        return "[red]revoked[/]"
    expires = key.get("expires_at")
    if expires and datetime.fromisoformat(expires.replace("Z", "+00:00")) <= datetime.now(UTC):
        return "[yellow]expired[/]"
    return "active"


def keys_table(keys: list[dict[str, Any]]) -> Table:
    table = Table(title="API keys")
    _columns(
        table,
        ("ID", "Name", "Prefix", "State", "Models", "RPM", "In flight", "Expires (UTC)"),
        right=("ID", "RPM", "In flight"),
    )
    for k in keys:
        table.add_row(
            str(k["id"]),
            escape(k["name"]),
            k["prefix"] + "…",
            _key_state(k),
            ", ".join(k["models"]) if k.get("models") is not None else "all",
            str(k["rpm_limit"]) if k.get("rpm_limit") else "-",
            str(k["max_in_flight"]) if k.get("max_in_flight") else "-",
            when(k.get("expires_at")),
        )
    return table
