"""Channels declared by the configuration: written to the store at start.

Without a channels file the gateway has one channel: the real MiniMax service when
``REELGATE_MINIMAX_API_KEY`` is set, else the sandbox mounted in this process, called with
its first key (``bootstrap.sandbox_api_keys``: generated and kept in the store unless set).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from reelgate.domain.channels import Channel, ChannelKind
from reelgate.settings import Settings
from reelgate.store.channels import ChannelStore


def default_channel(settings: Settings, sandbox_key: str | None) -> Channel | None:
    if settings.minimax_api_key is not None:
        return Channel(
            name="minimax",
            kind=ChannelKind.MINIMAX,
            base_url=settings.minimax_base_url,
            api_key=settings.minimax_api_key.get_secret_value(),
            rpm=settings.default_channel_rpm,
            source="config",
        )
    if settings.sandbox_mounted and sandbox_key:
        return Channel(
            name="sandbox",
            kind=ChannelKind.SANDBOX,
            base_url=settings.upstream_base_url,
            api_key=sandbox_key,
            rpm=settings.default_channel_rpm,
            source="config",
        )
    return None


def channel_from(entry: dict[str, Any], origin: str) -> Channel:
    """One ``[[channels]]`` entry; the key may come from the environment (``api_key_env``)."""
    try:
        name = str(entry["name"])
        key = entry.get("api_key")
        if key is None and "api_key_env" in entry:
            key = os.environ.get(str(entry["api_key_env"]))
        if not key:
            raise ValueError(f"channel {name!r} has no api_key (or its api_key_env is unset)")
        models = entry.get("models")
        return Channel(
            name=name,
            kind=ChannelKind(entry.get("kind", "minimax")),
            base_url=str(entry["base_url"]),
            api_key=str(key),
            models=tuple(models) if models is not None else None,
            priority=int(entry.get("priority", 0)),
            weight=int(entry.get("weight", 1)),
            rpm=int(entry["rpm"]) if entry.get("rpm") is not None else None,
            max_in_flight=(
                int(entry["max_in_flight"]) if entry.get("max_in_flight") is not None else None
            ),
            enabled=bool(entry.get("enabled", True)),
            source="config",
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{origin}: bad channel entry {entry.get('name', '?')!r}: {exc}") from None


def configured_channels(settings: Settings, sandbox_key: str | None = None) -> list[Channel]:
    if settings.channels_file is None:
        channel = default_channel(settings, sandbox_key)
        return [channel] if channel else []
    path = Path(settings.channels_file)
    with path.open("rb") as f:
        data = tomllib.load(f)
    return [channel_from(dict(e), str(path)) for e in data.get("channels", [])]


async def declare_channels(
    store: ChannelStore, settings: Settings, sandbox_key: str | None = None
) -> None:
    """The configuration wins for the channels it declares; others are left as they are."""
    for channel in configured_channels(settings, sandbox_key):
        await store.upsert(channel)
