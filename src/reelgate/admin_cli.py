"""The operator's commands: ``reelgate accounts``, ``keys``, ``usage`` and ``ledger``.

They are thin clients of the admin API (/admin/v1) over HTTP, so they work against any
gateway an operator can reach, local or remote, and never touch the store directly: the
server stays the one place where money moves.

Exit codes: 0 done, 1 the gateway refused (its HTTP status and message are printed),
2 bad arguments or no admin token, 3 the gateway could not be reached.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

if TYPE_CHECKING:
    import httpx

DEFAULT_ADMIN_URL = "http://127.0.0.1:8000"
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

# ISO 4217 currencies whose minor unit is not a hundredth; every other one has two digits.
_MINOR_DIGITS = {
    **dict.fromkeys(("JPY", "KRW", "VND", "CLP", "ISK", "UGX", "PYG", "XAF", "XOF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}

out = Console(soft_wrap=True)  # tables and answers: stdout, so they can be piped
err = Console(stderr=True, soft_wrap=True)  # errors and notes

accounts_app = typer.Typer(
    name="accounts",
    help="Create, list, show, top up, limit, suspend and resume accounts.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
keys_app = typer.Typer(
    name="keys",
    help="Issue, list and revoke an account's API keys.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

# -- options every command takes --------------------------------------------------------

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


def _fail(code: int, message: str) -> NoReturn:
    err.print(f"[red]error:[/] {escape(message)}")
    raise typer.Exit(code)


class Admin:
    """The admin API over HTTP; any failure ends the command with a clear message."""

    def __init__(self, url: str, token: str | None) -> None:
        import httpx  # here, not at import: `reelgate --help` stays quick

        if not token:
            _fail(EXIT_USAGE, "no admin token: pass --admin-token or set REELGATE_ADMIN_TOKEN")
        self.url = url.rstrip("/")
        self._httpx = httpx
        # trust_env=False: a proxy variable must not reroute an operator's loopback calls
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30.0,
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            resp = self._http.request(method, "/admin/v1" + path, json=body, params=query)
        except self._httpx.HTTPError as exc:
            _fail(EXIT_UNREACHABLE, f"cannot reach the gateway at {self.url}: {exc}")
        if missing_ok and resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            _fail(EXIT_REFUSED, _describe(resp))
        return resp.json()

    def currency(self) -> str | None:
        """The price table's currency; None from a gateway without /admin/v1/prices."""
        prices = self.call("GET", "/prices", missing_ok=True)
        return str(prices["currency"]) if prices else None


def _describe(resp: httpx.Response) -> str:
    """'HTTP 404 (not_found): no account 7' from the platform's error body."""
    try:
        data = resp.json()
        error = data["error"]
        text = f"HTTP {resp.status_code} ({error['kind']}): {error['message']}"
        if data.get("request_id"):
            text += f" [request {data['request_id']}]"
        return text
    except (ValueError, KeyError, TypeError):
        return f"HTTP {resp.status_code}: {resp.text[:300] or resp.reason_phrase}"


@contextmanager
def admin(url: str, token: str | None) -> Iterator[Admin]:
    client = Admin(url, token)
    try:
        yield client
    finally:
        client.close()


# -- formatting -------------------------------------------------------------------------


def money(amount: int, currency: str | None) -> str:
    """``1,000.00 USD (100000)``: the amount for people, then the exact minor units."""
    if currency is None:
        return f"{amount:,} (minor units)"
    digits = _MINOR_DIGITS.get(currency.upper(), 2)
    value = Decimal(amount).scaleb(-digits)  # exact: no float ever holds money here
    return f"{value:,.{digits}f} {currency} [dim]({amount})[/]"


def _when(value: str | None) -> str:
    return value.replace("T", " ")[:19] if value else "-"


def _print_json(data: Any) -> None:
    # plain print: Rich would wrap long lines and re-colour the text
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _instant(value: str | None, label: str) -> str | None:
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


def _account_table(accounts: list[dict[str, Any]], currency: str | None) -> Table:
    table = Table(title="Accounts" if len(accounts) != 1 else None)
    for col in ("ID", "Name", "Status", "Balance", "RPM", "In flight", "Created (UTC)"):
        table.add_column(
            col,
            justify="right" if col in ("ID", "Balance", "RPM", "In flight") else "left",
            min_width=_MIN_WIDTH.get(col),
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
            _when(a["created_at"]),
        )
    return table


def _ledger_table(entries: list[dict[str, Any]], currency: str | None, title: str) -> Table:
    table = Table(title=title)
    for col in ("Entry", "When (UTC)", "Kind", "Amount", "Balance after", "Task", "Note"):
        table.add_column(
            col,
            justify="right" if col in ("Entry", "Amount", "Balance after") else "left",
            min_width=_MIN_WIDTH.get(col),
        )
    for e in entries:
        task = e.get("platform_id") or (str(e["task_id"]) if e.get("task_id") else "-")
        table.add_row(
            str(e["id"]),
            _when(e["created_at"]),
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


def _keys_table(keys: list[dict[str, Any]]) -> Table:
    table = Table(title="API keys")
    for col in ("ID", "Name", "Prefix", "State", "Models", "RPM", "In flight", "Expires (UTC)"):
        table.add_column(
            col,
            justify="right" if col in ("ID", "RPM", "In flight") else "left",
            min_width=_MIN_WIDTH.get(col),
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
            _when(k.get("expires_at")),
        )
    return table


# -- accounts ---------------------------------------------------------------------------


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
            _print_json(account)
            return
        out.print(f"created account [bold]{account['id']}[/] ({escape(account['name'])})")
        out.print(_account_table([account], api.currency()))


@accounts_app.command("list")
def accounts_list(
    url: UrlOpt = DEFAULT_ADMIN_URL, admin_token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """List every account with its status and balance."""
    with admin(url, admin_token) as api:
        data = api.call("GET", "/accounts")
        if as_json:
            _print_json(data)
            return
        out.print(_account_table(data["data"], api.currency()))


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
            _print_json({"account": account, "ledger": ledger["data"]})
            return
        currency = api.currency()
        out.print(_account_table([account], currency))
        out.print(_ledger_table(ledger["data"], currency, "Recent ledger entries"))


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
            _print_json(account)
            return
        currency = api.currency()
        out.print(
            f"added {money(amount, currency)} to account {account_id}; "
            f"balance now {money(account['balance'], currency)}"
        )


def _limit(value: str | None, label: str) -> int | None:
    """A limit as given on the command line: a whole number from 1, or 'none'."""
    if value is None or value.strip().lower() == "none":
        return None
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        raise typer.BadParameter(
            f"{value!r} is neither a whole number from 1 nor 'none'", param_hint=label
        )
    return limit


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
        name: _limit(value, f"--{name.replace('_', '-')}")
        for name, value in (("rpm_limit", rpm_limit), ("max_in_flight", max_in_flight))
        if value is not None
    }
    with admin(url, admin_token) as api:
        if changes:
            account = api.call("PATCH", f"/accounts/{account_id}", body=changes)
        else:
            account = api.call("GET", f"/accounts/{account_id}")
    if as_json:
        _print_json(account)
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
            _print_json(account)
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


# -- keys -------------------------------------------------------------------------------


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
        "expires_at": _instant(expires, "--expires"),
    }
    with admin(url, admin_token) as api:
        key = api.call("POST", f"/accounts/{account_id}/keys", body=body)
    if as_json:
        _print_json(key)
        return
    out.print(_keys_table([key]))
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
        _print_json(data)
        return
    out.print(_keys_table(data["data"]))


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
        _print_json(key)
        return
    out.print(f"key {key['id']} ({escape(key['name'])}, {key['prefix']}…) is revoked")


# -- reports ----------------------------------------------------------------------------


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
        "created_after": _instant(since, "--since"),
        "created_before": _instant(until, "--until"),
    }
    with admin(url, admin_token) as api:
        data = api.call("GET", "/usage", params=params)
        if as_json:
            _print_json(data)
            return
        currency = api.currency()
    rows = data["data"]
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
    out.print(table if rows else "no tasks match")


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
            _print_json(data)
            return
        currency = api.currency()
    entries = data["data"]
    out.print(_ledger_table(entries, currency, f"Ledger of account {account_id}"))
    if len(entries) == limit:
        err.print(f"older entries: --before {entries[-1]['id']}")
