"""``reelgate keys``: issue, list and revoke an account's API keys."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel

from reelgate.admin_cli.client import admin
from reelgate.admin_cli.display import keys_table, out, print_json
from reelgate.admin_cli.options import (
    DEFAULT_ADMIN_URL,
    AccountArg,
    JsonOpt,
    TokenOpt,
    UrlOpt,
    instant,
)

keys_app = typer.Typer(
    name="keys",
    help="Issue, list and revoke an account's API keys.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@keys_app.command("create")
def keys_create(
    account_id: AccountArg,
    name: Annotated[str, typer.Option("--name", help="What the key is for.")],
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="A model the key may use; repeat it. All if left out."),
    ] = None,
    rpm: Annotated[int | None, typer.Option(min=1, help="Requests per minute.")] = None,
    max_in_flight: Annotated[
        int | None, typer.Option(min=1, help="Unfinished tasks at once.")
    ] = None,
    expires: Annotated[
        str | None, typer.Option(help="When it stops working: ISO 8601, UTC unless a zone.")
    ] = None,
    url: UrlOpt = DEFAULT_ADMIN_URL,
    admin_token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue an API key for an account. The key is printed once: only its hash is kept."""
    body = {
        "name": name,
        "models": model or None,
        "rpm_limit": rpm,
        "max_in_flight": max_in_flight,
        "expires_at": instant(expires, "--expires"),
    }
    with admin(url, admin_token) as api:
        key = api.call("POST", f"/accounts/{account_id}/keys", body=body)
    if as_json:
        print_json(key)
        return
    out.print(keys_table([key]))
    out.print(
        Panel(
            f"[bold]{key['key']}[/]",
            title="API key, shown this once",
            subtitle="only its hash is stored: keep it now",
            border_style="green",
            expand=False,
        )
    )


@keys_app.command("list")
def keys_list(
    account_id: AccountArg,
    url: UrlOpt = DEFAULT_ADMIN_URL,
    admin_token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List an account's keys (their prefixes, limits and state; never the keys)."""
    with admin(url, admin_token) as api:
        data = api.call("GET", f"/accounts/{account_id}/keys")
    if as_json:
        print_json(data)
        return
    out.print(keys_table(data["data"]))


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id (see `keys list`).")],
    url: UrlOpt = DEFAULT_ADMIN_URL,
    admin_token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a key for good. Tasks it already created finish and are billed as usual."""
    with admin(url, admin_token) as api:
        key = api.call("POST", f"/keys/{key_id}/revoke")
    if as_json:
        print_json(key)
        return
    out.print(f"key {key['id']} ({escape(key['name'])}, {key['prefix']}…) is revoked")
