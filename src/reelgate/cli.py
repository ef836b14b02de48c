"""The ``reelgate`` command. Thin: build Settings, call the composition root."""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from reelgate import __version__, admin_cli, generate_cli, recover_cli
from reelgate.recover_cli import sqlite_file

if TYPE_CHECKING:  # imported where used: an operator's command need not load pydantic-settings
    from reelgate.settings import Settings

app = typer.Typer(
    name="reelgate",
    help="A self-hosted, MiniMax-compatible gateway for AI video generation.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
console = Console(stderr=True)

EXIT_CANNOT_LISTEN = 3  # `serve`: the address is taken or not ours (uvicorn's own code)

# Help texts are Rich markup: a literal "[" is written "\\[" (else "[text]" vanishes).
HostOpt = Annotated[str | None, typer.Option(help="Interface to listen on. \\[env: REELGATE_HOST]")]
PortOpt = Annotated[int | None, typer.Option(help="Port to listen on. \\[env: REELGATE_PORT]")]
WorkersOpt = Annotated[
    int,
    typer.Option(
        help="API processes serving the one port (one per core). Above 1 the tracker and "
        "the dispatcher run once, in the supervising process; it needs REELGATE_REDIS_URL "
        "and an upstream outside the gateway (no /sandbox).",
        envvar="REELGATE_WORKERS",
    ),
]


def _settings(**overrides: Any) -> Settings:
    """The settings, or a clear message and exit code 2 for a value that is not allowed."""
    from pydantic import ValidationError

    from reelgate.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for error in exc.errors():
            name = "REELGATE_" + "_".join(str(p) for p in error["loc"]).upper()
            console.print(f"[red]configuration:[/] {name}: {error['msg']}", soft_wrap=True)
        raise typer.Exit(2) from None


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            # eager: handled while parsing, before the group asks for a command
            is_eager=True,
            callback=_print_version,
            expose_value=False,
        ),
    ] = False,
) -> None:
    pass


def _hide_flag_metavars() -> None:
    """Typer's rich help shows a ``<bool>`` value after every flag (``--help <bool>``), as
    if it took one: flags take none, so show nothing there."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_hide_flag_metavars()


@app.command()
def serve(
    host: HostOpt = None,
    port: PortOpt = None,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Run the tracker and the callback dispatcher in this process. "
            "--no-worker: an API replica, with `reelgate worker` processes beside it.",
        ),
    ] = True,
    workers: WorkersOpt = 1,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> None:
    """Run the gateway: the API, the tracker and the sandbox upstream at /sandbox.

    With no configuration it uses SQLite and a local folder under ./data of the current
    directory (REELGATE_DATA_DIR; the path is printed at every start) and the built-in
    sandbox as its upstream, and brings the schema up to date itself. With --no-worker it
    is one of several API replicas: it migrates nothing and refuses a schema that is not
    current (run `reelgate migrate`).

    With --workers N (N > 1) it runs N API processes on the one port, restarted if they
    die, and the tracker and dispatcher once, in this process; SIGTERM or SIGINT stops them
    all; exit 1 if one keeps dying (docs/scale.md).

    It listens before it touches the store, so a busy port changes nothing (exit 3).
    Exit 2: the store cannot be used, or the settings do not allow --workers N.
    """
    from reelgate.app import create_app, prepare_store
    from reelgate.supervisor import refusal, uvicorn_server

    settings = _settings(host=host, port=port)
    _refuse(refusal(settings, workers))
    _logging(log_level)
    role = "" if worker else ", API only"
    if workers > 1:
        role += f", {workers} API processes"
    console.print(
        f"reelgate {__version__} on [bold]{settings.base_url}[/]{role} "
        f"({_where(settings)}, upstream: {settings.upstream_base_url})",
        soft_wrap=True,
    )
    # Bind first: uvicorn would run the lifespan (which bootstraps the first account and
    # prints its one-time credentials) before binding, and then fail on a busy port.
    sock = _listen(settings.host, settings.port)
    try:
        _run_or_refuse(prepare_store(settings, worker=worker), "serve")
        if workers > 1:
            _supervise(settings, sock, workers, worker, log_level, access_log)
            return
        app = create_app(settings, worker=worker)
        server = uvicorn_server(settings, app, log_level=log_level, access_log=access_log)
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    finally:
        sock.close()
    if not server.started:
        raise typer.Exit(EXIT_CANNOT_LISTEN)


def _refuse(why: str | None) -> None:
    """Settings that do not allow the asked number of processes: exit 2 before listening."""
    if why is not None:
        console.print(f"[red]reelgate serve: {why}.[/]", soft_wrap=True)
        raise typer.Exit(2)


def _supervise(
    settings: Settings,
    sock: socket.socket,
    workers: int,
    worker: bool,
    log_level: str,
    access_log: bool,
) -> None:
    """``serve --workers N``: the children on ``sock`` and the tracker here (supervisor.py)."""
    import asyncio

    from reelgate.store.database import StartupError
    from reelgate.supervisor import supervise

    def started(gw: Any, pids: list[int]) -> None:
        tracker = f"tracker and dispatcher here, leases as {gw.tracker.owner}" if worker else ""
        console.print(
            f"reelgate serve: API processes {', '.join(map(str, pids))}; {tracker or 'no tracker'}",
            soft_wrap=True,
        )

    job = supervise(
        settings,
        sock,
        workers,
        worker=worker,
        log_level=log_level,
        access_log=access_log,
        started=started,
    )
    try:
        code = asyncio.run(job)
    except StartupError as exc:
        console.print(f"[red]reelgate serve: {exc}[/]", soft_wrap=True)
        raise typer.Exit(2) from None
    console.print("reelgate serve stopped")
    if code:
        raise typer.Exit(code)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; a clear message and exit 3 when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # as uvicorn and asyncio do: a port left in TIME_WAIT is free, one in use is not
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # listening now is what makes the port ours
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        hint = (
            " (another process is listening there: stop it, or pick another port "
            "with --port or REELGATE_PORT)"
            if exc.errno == errno.EADDRINUSE
            else ""
        )
        console.print(
            f"[red]reelgate serve: cannot listen on {host}:{port}: {reason}{hint}.[/] "
            "Nothing was started and the store was not touched.",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_CANNOT_LISTEN) from None
    return sock


@app.command()
def sandbox(host: HostOpt = None, port: PortOpt = None, log_level: str = "info") -> None:
    """Run the MiniMax sandbox alone, as the upstream of a gateway or of any MiniMax client.

    It answers MiniMax v1 at http://HOST:PORT/v1/... and at http://HOST:PORT/sandbox/v1/...;
    its state lives in REELGATE_DATA_DIR/sandbox. Settings (docs/sandbox.md):

    REELGATE_SANDBOX_API_KEYS  keys it accepts, a JSON list (default ["sandbox-key"])
    REELGATE_SANDBOX_TIMINGS  fast, realistic, or seconds per state "1,2,5"
    REELGATE_SANDBOX_RPM  calls per minute per key (default 20; 0 = unlimited)
    REELGATE_SANDBOX_FAULTS  e.g. "refuse_1002=0.1,http_5xx=0.05,fail_midway=0.1"
    REELGATE_SANDBOX_FAULT_SEED, _SLOW_S, _HANG_S  make faults reproducible and sized
    REELGATE_SANDBOX_URL_TTL_S  lifetime of download URLs (default 3600)
    REELGATE_SANDBOX_ALLOW_PRIVATE_URLS  fetch images / call callbacks on private hosts
    REELGATE_SANDBOX_RENDER  full (default) or stub (one tiny clip, for load tests)
    REELGATE_SANDBOX_RENDER_WORKERS  processes rendering videos (default 2)
    """
    import uvicorn

    from reelgate.app import build_sandbox
    from reelgate.http_limits import http_options, limit_bodies
    from reelgate.sandbox.app import create_sandbox_app

    settings = _settings(host=host, port=port)
    _logging(log_level)
    console.print(f"reelgate sandbox on [bold]http://{settings.host}:{settings.port}[/]")
    uvicorn.run(
        limit_bodies(create_sandbox_app(build_sandbox(settings), standalone=True), settings),
        **http_options(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,  # a hanging "timeout" fault must not hold shutdown
    )


@app.command(name="worker")
def worker_command(
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the tracker and the callback dispatcher, without the API.

    Any number of workers and `serve --no-worker` replicas may share one store
    (REELGATE_DATABASE_URL): workers lease the tasks they poll, and a dead worker's leases
    expire. The schema must be current (`reelgate migrate`). SIGTERM or SIGINT stops it
    gracefully; it exits 1 if a loop keeps crashing.
    """
    from reelgate.app import open_gateway
    from reelgate.worker import WorkerFailed

    settings = _settings()
    _logging(log_level)
    where = _where(settings)  # before the store is opened: it may say "none yet"

    async def run() -> None:
        async with open_gateway(settings, api=False) as gw:
            assert gw.worker is not None
            console.print(
                f"reelgate {__version__} worker running: {', '.join(gw.worker.names)} "
                f"({where}, leases as {gw.tracker.owner})",
                soft_wrap=True,
            )
            await gw.worker.run_until_signalled()
        console.print("reelgate worker stopped")

    try:
        _run_or_refuse(run(), "worker")
    except WorkerFailed as exc:
        console.print(f"[red]reelgate worker failed:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None


def _run_or_refuse(job: Coroutine[Any, Any, None], command: str) -> None:
    """Run ``job``; a store that cannot be used ends the command with what to do."""
    import asyncio

    from reelgate.store.database import StartupError

    try:
        asyncio.run(job)
    except StartupError as exc:
        console.print(f"[red]reelgate {command}: {exc}[/]", soft_wrap=True)
        raise typer.Exit(2) from None


@app.command()
def migrate() -> None:
    """Bring the store's schema up to date (SQLite or PostgreSQL: REELGATE_DATABASE_URL).

    Run it once before starting (or upgrading) `serve --no-worker` replicas and workers,
    which refuse a schema that is not current; the single-process `serve` runs it itself.
    """
    from reelgate.store import database

    settings = _settings()
    console.print(f"reelgate {__version__} migrate ({_where(settings)})", soft_wrap=True)

    async def run() -> None:
        engine = database.create_engine(settings.database)
        try:
            await database.prepare(engine, migrate=True)
            revision = await database.current_revision(engine)
        finally:
            await engine.dispose()
        console.print(f"schema of {_redact(settings.database)} is at revision {revision}")

    _run_or_refuse(run(), "migrate")


# A client of the MiniMax API (generate_cli.py), registered here to keep its place in --help.
app.command()(generate_cli.generate)


# The operator's commands (admin_cli/): clients of the admin API over HTTP.
app.add_typer(admin_cli.accounts_app, name="accounts")
app.add_typer(admin_cli.keys_app, name="keys")
app.command("usage")(admin_cli.usage)
app.command("ledger")(admin_cli.ledger)
# Access regained from the local store, for an operator who lost the admin token.
app.add_typer(recover_cli.recover_app, name="recover")


def _where(settings: Settings) -> str:
    """Where this process keeps its state, as absolute paths. Said at every start, so that
    a command run from another directory cannot quietly start a fresh ./data there."""
    file = sqlite_file(settings.database)
    if file is None:
        store = _redact(settings.database)
    else:
        store = str(file) + ("" if file.exists() else " [yellow](none yet: a new, empty store)[/]")
    return f"store: {store}, data: {settings.data_dir.resolve()}"


def _redact(url: str) -> str:
    """Hide a password in a database URL."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


def main() -> None:
    app()
