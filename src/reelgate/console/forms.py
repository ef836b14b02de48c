"""Reading operator forms: whole numbers within bounds, optional text; each refusal is an
InvalidParams that says which field to fix."""

from __future__ import annotations

from starlette.datastructures import FormData

from reelgate.domain.bounds import storable_text
from reelgate.errors import InvalidParams


def text(form: FormData, name: str, *, max_len: int = 200, required: bool = False) -> str | None:
    value = form.get(name)
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        if required:
            raise InvalidParams(f"{name.replace('_', ' ')} is required")
        return None
    if len(value) > max_len:
        raise InvalidParams(f"{name.replace('_', ' ')} may have at most {max_len} characters")
    return storable_text(value)


def whole(form: FormData, name: str, *, low: int, high: int, required: bool = False) -> int | None:
    """A whole number in [low, high]; blank is None (no limit) unless required."""
    raw = text(form, name, max_len=30, required=required)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit():
        raise InvalidParams(f"{name.replace('_', ' ')} must be a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise InvalidParams(f"{name.replace('_', ' ')} must be between {low} and {high}")
    return value
