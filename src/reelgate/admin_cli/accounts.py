"""``reelgate accounts``: create, list, show, top up, limit, suspend and resume."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from reelgate.admin_cli.client import admin
from reelgate.admin_cli.display import account_table, ledger_table, money, out, print_json
from reelgate.admin_cli.options import (
    DEFAULT_ADMIN_URL,
    AccountArg,
    JsonOpt,
    TokenOpt,
    UrlOpt,
    limit,
)

accounts_app = typer.Typer(
    name="accounts",
    help="Create, list, show, top up, limit, suspend and resume accounts.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Argument(help="A unique name for the account.")],
    credit: Annotated[
        int, typer.Option(min=0, help="Starting credit in minor units (cents for USD).")
    ] = 0,
    rpm_limit: Annotated[
        int | None,
        typer.Option(min=1, help="Requests per minute over all of its keys together."),
    ] = None,
    max_in_flight: Annotated[
        int | None,
        typer.Option(min=1, help="Unfinished tasks at once over all of its keys together."),
    ] = None,
    url: UrlOpt = DEFAULT_ADMIN_URL,
    admin_token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an account, optionally with starting credit (a 'topup' ledger entry) and
    limits that bind all of its keys together, next to each key's own."""
    body = {
        "name": name,
        "initial_credit": credit,
        "rpm_limit": rpm_limit,
        "max_in_flight": max_in_flight,
    }
    with admin(url, admin_token) as api:
        account = api.call("POST", "/accounts", body=body)
        if as_json:
            print_json(account)
            return
        out.print(f"created account [bold]{account['id']}[/] ({escape(account['name'])})")
        out.print(account_table([account], api.currency()))


@accounts_app.command("list")
def accounts_list(
    url: UrlOpt = DEFAULT_ADMIN_URL, admin_token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """List every account with its status and balance."""
    with admin(url, admin_token) as api:
        data = api.call("GET", "/accounts")
        if as_json:
            print_json(data)
            return
        out.print(account_table(data["data"], api.currency()))


@accounts_app.command("show")
def accounts_show(
    account_id: AccountArg,
    entries: Annotated[int, typer.Option(min=1, max=1000, help="Ledger entries to show.")] = 10,
    url: UrlOpt = DEFAULT_ADMIN_URL,
    admin_token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show an account: its status, balance and most recent ledger entries."""
    with admin(url, admin_token) as api:
        account = api.call("GET", f"/accounts/{account_id}")
        ledger = api.call("GET", f"/accounts/{account_id}/ledger", params={"limit": entries})
        if as_json:
            print_json({"account": account, "ledger": ledger["data"]})
            return
        currency = api.currency()
        out.print(account_table([account], currency))
        out.print(ledger_table(ledger["data"], currency, "Recent ledger entries"))


@accounts_app.command("topup")
def accounts_topup(
    account_id: AccountArg,
    amount: Annotated[int, typer.Argument(min=1, help="Minor units to add (cents for USD).")],
    note: Annotated[str | None, typer.Option(help="Kept on the ledger entry.")] = None,
    url: UrlOpt = DEFAULT_ADMIN_URL,
    admin_token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add credit to an account. The amount is an integer of minor units."""
    with admin(url, admin_token) as api:
        body: dict[str, Any] = {"amount": amount, "note": note}
        account = api.call("POST", f"/accounts/{account_id}/topup", body=body)
        if as_json:
            print_json(account)
            return
        currency = api.currency()
        out.print(
            f"added {money(amount, currency)} to account {account_id}; "
            f"balance now {money(account['balance'], currency)}"
        )


@accounts_app.command("limits")
def accounts_limits(
    account_id: AccountArg,
    rpm_limit: Annotated[
        str | None,
        typer.Option(
            help="Requests per minute over all of its keys together; 'none' for no limit.",
            show_default=False,
        ),
    ] = None,
    max_in_flight: Annotated[
        str | None,
        typer.Option(
            help="Unfinished tasks at once over all of its keys; 'none' for no limit.",
            show_default=False,
        ),
    ] = None,
    url: UrlOpt = DEFAULT_ADMIN_URL,
    admin_token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show or change an account's own limits, which bind all of its keys together.

    Each key's own --rpm and --max-in-flight still hold; a request must pass both. Only
    the options given change; without any, the limits are shown. A change holds for the
    next request (within two seconds on other replicas).
    """
    changes = {
        name: limit(value, f"--{name.replace('_', '-')}")
        for name, value in (("rpm_limit", rpm_limit), ("max_in_flight", max_in_flight))
        if value is not None
    }
    with admin(url, admin_token) as api:
        if changes:
            account = api.call("PATCH", f"/accounts/{account_id}", body=changes)
        else:
            account = api.call("GET", f"/accounts/{account_id}")
    if as_json:
        print_json(account)
        return
    limits = ", ".join(
        f"{name} {account[name] if account.get(name) else 'none'}"
        for name in ("rpm_limit", "max_in_flight")
    )
    out.print(f"account {account_id} ({escape(account['name'])}): {limits}")


def _set_status(account_id: int, action: str, url: str, token: str | None, as_json: bool) -> None:
    with admin(url, token) as api:
        account = api.call("POST", f"/accounts/{account_id}/{action}")
        if as_json:
            print_json(account)
            return
        out.print(f"account {account_id} ({escape(account['name'])}) is {account['status']}")


@accounts_app.command("suspend")
def accounts_suspend(
    account_id: AccountArg,
    url: UrlOpt = DEFAULT_ADMIN_URL,
    admin_token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Suspend an account: its keys are refused until it is resumed.

    Tasks already running finish and are billed as usual.
    """
    _set_status(account_id, "suspend", url, admin_token, as_json)


@accounts_app.command("resume")
def accounts_resume(
    account_id: AccountArg,
    url: UrlOpt = DEFAULT_ADMIN_URL,
    admin_token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Resume a suspended account: its keys work again."""
    _set_status(account_id, "resume", url, admin_token, as_json)
