"""What the ``reelgate`` command loads before it knows which command runs.

Every test of the CLI, and every operator's `reelgate keys ...`, starts a new interpreter:
the operator commands are HTTP clients and need neither the store's library (SQLAlchemy)
nor the settings (pydantic-settings); only the commands that use them load them.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sqlalchemy", "pydantic_settings", "fastapi", "uvicorn", "av", "numpy")


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}; import sys; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_the_command_line_loads_no_store_web_or_media_library() -> None:
    loaded = _loaded_after("import reelgate.cli")
    assert not [name for name in HEAVY if name in loaded]
