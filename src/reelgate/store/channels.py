"""Channels in the store: the admin API and the configuration both write here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.domain.channels import Channel, ChannelKind
from reelgate.domain.tasks import UNFINISHED
from reelgate.errors import Conflict
from reelgate.store.database import begin
from reelgate.store.tables import channels, tasks

_UNFINISHED = [s.value for s in UNFINISHED]


def _channel(row: Any) -> Channel:
    return Channel(
        name=row.name,
        kind=ChannelKind(row.kind),
        base_url=row.base_url,
        api_key=row.api_key,
        models=tuple(row.models) if row.models is not None else None,
        priority=row.priority,
        weight=row.weight,
        rpm=row.rpm,
        max_in_flight=row.max_in_flight,
        enabled=row.enabled,
        source=row.source,
    )


def _values(channel: Channel) -> dict[str, Any]:
    return {
        "kind": channel.kind.value,
        "base_url": channel.base_url,
        "api_key": channel.api_key,
        "models": list(channel.models) if channel.models is not None else None,
        "priority": channel.priority,
        "weight": channel.weight,
        "rpm": channel.rpm,
        "max_in_flight": channel.max_in_flight,
        "enabled": channel.enabled,
        "source": channel.source,
    }


class ChannelStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def list(self) -> list[Channel]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(channels).order_by(channels.c.id))).all()
        return [_channel(r) for r in rows]

    async def get(self, name: str) -> Channel | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(channels).where(channels.c.name == name))
            ).one_or_none()
        return _channel(row) if row else None

    async def create(self, channel: Channel) -> Channel:
        now = datetime.now(UTC)
        try:
            async with begin(self._engine) as conn:
                await conn.execute(
                    insert(channels).values(
                        name=channel.name, created_at=now, updated_at=now, **_values(channel)
                    )
                )
        except IntegrityError:
            raise Conflict(f"a channel named {channel.name!r} exists already") from None
        return channel

    async def replace(self, channel: Channel) -> Channel | None:
        async with begin(self._engine) as conn:
            done = await conn.execute(
                update(channels)
                .where(channels.c.name == channel.name)
                .values(updated_at=datetime.now(UTC), **_values(channel))
            )
        return channel if done.rowcount else None

    async def upsert(self, channel: Channel) -> None:
        """Create or overwrite (used for channels declared in the configuration)."""
        if await self.replace(channel) is None:
            try:
                await self.create(channel)
            except Conflict:  # another replica declared it at the same moment
                await self.replace(channel)

    async def delete(self, name: str) -> bool:
        async with begin(self._engine) as conn:
            done = await conn.execute(delete(channels).where(channels.c.name == name))
        return bool(done.rowcount)

    async def in_flight(self) -> dict[str, int]:
        """Unfinished tasks per channel."""
        query = (
            select(tasks.c.channel, func.count())
            .where(tasks.c.status.in_(_UNFINISHED))
            .group_by(tasks.c.channel)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {r[0]: int(r[1]) for r in rows}
