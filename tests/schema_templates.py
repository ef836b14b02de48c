"""Databases born at the current schema: each is a copy of one template that this test
process migrated once, since migrating each new database costs a tenth of a second on
SQLite and most of a second on PostgreSQL, dozens of times a pass.

PostgreSQL copies the template with ``CREATE DATABASE ... TEMPLATE`` (nothing stays
connected to it once it is migrated); SQLite copies the file. The template is the code's
own migrations, run once per process, so a copy is exactly what ``upgrade`` would make.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import subprocess
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# the pass's database server (or "sqlite") -> its migrated template: a database name on
# PostgreSQL, a file on SQLite
_templates: dict[str, str] = {}


def copy_migrated(url: str, name: str) -> None:
    """Create PostgreSQL database ``name`` on ``url``'s server at the current schema."""
    template = _templates.get(url)
    if template is None:
        template = _templates[url] = _migrated_postgres(url)
    psql(url, f"CREATE DATABASE {name} TEMPLATE {template}")


def copy_migrated_file(target: Path) -> None:
    """Write a SQLite database at the current schema to ``target``."""
    template = _templates.get("sqlite")
    if template is None:
        template = _templates["sqlite"] = _migrated_sqlite()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)


def psql(url: str, command: str, check: bool = True) -> None:
    subprocess.run(["psql", url.replace("+asyncpg", ""), "-qc", command], check=check)


def upgrade(url: str) -> None:
    """Migrate ``url`` to the current schema, from sync code or from a fixture of a running
    event loop alike (the migration runs in a thread with a loop of its own)."""
    from reelgate.store import database

    async def run() -> None:
        engine = database.create_engine(url)
        try:
            await database.upgrade(engine)
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


def _migrated_postgres(url: str) -> str:
    name = f"rg_test_template_{uuid.uuid4().hex[:12]}"
    psql(url, f"CREATE DATABASE {name}")
    atexit.register(psql, url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", False)
    upgrade(url.rsplit("/", 1)[0] + "/" + name)
    return name


def _migrated_sqlite() -> str:
    folder = Path(tempfile.mkdtemp(prefix="rg-template-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "reelgate.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    # the engine is disposed: its last connection closed and folded the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return str(path)
