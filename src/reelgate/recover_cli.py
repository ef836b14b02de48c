"""``reelgate recover``: new credentials straight from the local store.

For an operator who lost the admin token or API key printed at first start (they are
kept only as hashes). Unlike the other operator commands (admin_cli/), these do not go
through the admin API, which would need the very token that was lost: they open the
store the settings name (REELGATE_DATA_DIR or REELGATE_DATABASE_URL), as the gateway
does, and print the new secret once, on stdout, so that a script can capture it.

Exit codes: 0 done, 1 no such account, 2 the store cannot be used.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from reelgate.errors import NotFound

if TYPE_CHECKING:  # imported where used: `reelgate --help` need not load SQLAlchemy
    from reelgate.settings import Settings
    from reelgate.store.accounts import AccountStore

T = TypeVar("T")

EXIT_NOT_FOUND = 1
EXIT_STORE = 2

out = Console(soft_wrap=True, highlight=False)  # the secret alone: stdout
err = Console(stderr=True, soft_wrap=True, highlight=False)  # everything else

recover_app = typer.Typer(
    name="recover",
    help="New credentials from the local store, for lost ones (no admin token needed).\n\n"
    "Run it where the gateway's store is (the same REELGATE_DATA_DIR or "
    "REELGATE_DATABASE_URL); no running gateway is needed. It prints the new secret once.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


def sqlite_file(url: str) -> Path | None:
    """The absolute path of a SQLite store's file; None for another kind of store."""
    if not url.startswith("sqlite") or ":///" not in url:
        return None
    file = url.split(":///", 1)[1].split("?", 1)[0]
    return Path(file).resolve() if file and file != ":memory:" else None


@asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[AccountStore]:
    from reelgate.store import database
    from reelgate.store.accounts import AccountStore

    file = sqlite_file(settings.database)
    if file is not None and not file.exists():
        # opening it would create an empty store, and the credentials would open nothing
        raise database.StartupError(
            f"there is no store at {file}: run this where the gateway runs, or set "
            "REELGATE_DATA_DIR (or REELGATE_DATABASE_URL) to the gateway's"
        )
    engine = database.create_engine(settings.database)
    try:
        await database.prepare(engine, migrate=False)  # a schema it does not know: refuse
        yield AccountStore(engine)
    finally:
        await engine.dispose()


def _run(settings: Settings, job: Callable[[AccountStore], Awaitable[T]]) -> T:
    from reelgate.store.database import StartupError

    async def run() -> T:
        async with _store(settings) as accounts:
            return await job(accounts)

    try:
        return asyncio.run(run())
    except StartupError as exc:
        err.print(f"[red]reelgate recover:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_STORE) from None
    except NotFound as exc:
        err.print(f"[red]reelgate recover:[/] {escape(exc.message)}")
        raise typer.Exit(EXIT_NOT_FOUND) from None


def _where(settings: Settings) -> str:
    file = sqlite_file(settings.database)
    return str(file) if file is not None else "REELGATE_DATABASE_URL"


@recover_app.command("admin-token")
def admin_token() -> None:
    """Issue a new admin token; the old one stops working.

    The new token replaces the old one's hash in the store. A running gateway takes it
    within a few seconds, without a restart. If the gateway is started with
    REELGATE_ADMIN_TOKEN, it puts that token back at its next start: change the setting
    instead (or as well).
    """
    from reelgate.services.recovery import replace_admin_token
    from reelgate.settings import Settings

    settings = Settings()
    token = _run(settings, replace_admin_token)
    out.print(token)
    err.print(
        f"A new admin token for the store at {_where(settings)}, shown once (stdout). "
        "The old token no longer works."
    )
    if settings.admin_token is not None:
        err.print(
            "[yellow]note:[/] REELGATE_ADMIN_TOKEN is set here: a gateway started with it "
            "restores that token at its next start."
        )


@recover_app.command("api-key")
def api_key(
    account: Annotated[
        str, typer.Argument(help="The account's id or name; the first start made 'default'.")
    ] = "default",
    name: Annotated[str, typer.Option(help="A name for the new key.")] = "recovered",
) -> None:
    """Issue a new API key for an account; its other keys stay as they are.

    Revoke a lost key afterwards with `reelgate keys revoke` (it needs the admin token:
    `reelgate recover admin-token` issues one).
    """
    from reelgate.services.recovery import find_account, issue_api_key
    from reelgate.settings import Settings

    settings = Settings()

    async def job(accounts: AccountStore) -> tuple[str, str]:
        found = await find_account(accounts, account)
        return found.name, await issue_api_key(accounts, found, name)

    account_name, key = _run(settings, job)
    out.print(key)
    err.print(
        f"A new API key for account {escape(account_name)!r} in the store at "
        f"{_where(settings)}, shown once (stdout)."
    )
