"""What the operator commands take on the command line: the options every one of them
has, and the values parsed by hand (instants and limits)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

DEFAULT_ADMIN_URL = "http://127.0.0.1:8000"

UrlOpt = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="REELGATE_ADMIN_URL",
        help="The gateway's base URL (not the /minimaxi one).",
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--admin-token",
        envvar="REELGATE_ADMIN_TOKEN",
        help="The admin token printed at first start.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer, for scripts.")]
AccountArg = Annotated[int, typer.Argument(help="The account's id (see `accounts list`).")]


def instant(value: str | None, label: str) -> str | None:
    """An ISO 8601 date or time; without a zone it means UTC. Sent on with its offset."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 date or time (e.g. 2025-01-31 or 2025-01-31T12:00:00Z)",
            param_hint=label,
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


def limit(value: str | None, label: str) -> int | None:
    """A limit as given on the command line: a whole number from 1, or 'none'."""
    if value is None or value.strip().lower() == "none":
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise typer.BadParameter(
            f"{value!r} is neither a whole number from 1 nor 'none'", param_hint=label
        )
    return number
