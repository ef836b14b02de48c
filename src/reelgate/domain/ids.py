"""Identifiers: the gateway's own ``platform_id`` and helpers to tell ids apart."""

from __future__ import annotations

from ulid import ULID

PLATFORM_PREFIX = "video_"


def new_platform_id() -> str:
    """Return ``video_<ULID>``: sortable by creation time, made before the upstream call."""
    return PLATFORM_PREFIX + str(ULID())


def is_platform_id(value: str) -> bool:
    return value.startswith(PLATFORM_PREFIX) and len(value) == len(PLATFORM_PREFIX) + 26
