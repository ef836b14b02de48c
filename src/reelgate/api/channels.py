"""Upstream channels under /admin/v1/channels. API keys go in, never come out."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.responses import Response

from reelgate.api.deps import Channels, Operator, operator
from reelgate.api.params import InFlight, Priority, Rate, Text, Weight
from reelgate.api.platform import ERRORS
from reelgate.domain.channels import Channel, ChannelKind
from reelgate.wire import JSONResponse

# the router checks the caller too, as admin.py's does (a route that forgets it is safe)
router = APIRouter(
    prefix="/admin/v1/channels",
    tags=["Admin: channels"],
    dependencies=[Depends(operator)],
    responses=ERRORS,
)


class ChannelCreate(BaseModel):
    name: Text = Field(min_length=1, max_length=64)
    kind: ChannelKind = ChannelKind.MINIMAX
    base_url: Text = Field(description="e.g. https://api.minimaxi.com")
    api_key: Text = Field(min_length=1, description="Stored; never returned.")
    models: list[Text] | None = Field(None, description="Models it serves; all if left out.")
    priority: Priority = Field(0, description="Higher tiers are tried first.")
    weight: Weight = Field(1, description="Share within its priority tier.")
    rpm: Rate | None = Field(None, description="Calls per minute to this account.")
    max_in_flight: InFlight | None = Field(None, description="Unfinished tasks at once.")
    enabled: bool = True


class ChannelUpdate(BaseModel):
    base_url: Text | None = None
    api_key: Text | None = Field(None, min_length=1)
    models: list[Text] | None = None
    priority: Priority | None = None
    weight: Weight | None = None
    rpm: Rate | None = None
    max_in_flight: InFlight | None = None
    enabled: bool | None = None


def channel_json(channel: Channel, state: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": channel.name,
        "kind": channel.kind.value,
        "base_url": channel.base_url,
        "api_key": channel.masked_key,
        "models": list(channel.models) if channel.models is not None else None,
        "priority": channel.priority,
        "weight": channel.weight,
        "rpm": channel.rpm,
        "max_in_flight": channel.max_in_flight,
        "enabled": channel.enabled,
        "source": channel.source,
        **(state or {}),
    }


@router.get("", summary="List channels, with their health")
async def list_channels(_: Operator, channels: Channels) -> Response:
    listed = await channels.list_with_health()
    return JSONResponse({"data": [channel_json(c, asdict(health)) for c, health in listed]})


@router.post("", status_code=201, summary="Add a channel")
async def create_channel(_: Operator, channels: Channels, body: ChannelCreate) -> Response:
    channel = Channel(
        name=body.name,
        kind=body.kind,
        base_url=body.base_url,
        api_key=body.api_key,
        models=tuple(body.models) if body.models is not None else None,
        priority=body.priority,
        weight=body.weight,
        rpm=body.rpm,
        max_in_flight=body.max_in_flight,
        enabled=body.enabled,
    )
    created = await channels.create(channel)
    return JSONResponse(channel_json(created), status_code=201)


@router.get("/{name}", summary="Show a channel")
async def show_channel(_: Operator, channels: Channels, name: str) -> Response:
    return JSONResponse(channel_json(await channels.get(name)))


@router.patch("/{name}", summary="Change a channel (enable, disable, limits, key...)")
async def update_channel(
    _: Operator, channels: Channels, name: str, body: ChannelUpdate
) -> Response:
    changes = body.model_dump(exclude_unset=True)
    channel = await channels.update(name, **changes)
    return JSONResponse(channel_json(channel))


@router.delete("/{name}", status_code=204, summary="Remove a channel")
async def delete_channel(_: Operator, channels: Channels, name: str) -> Response:
    await channels.delete(name)
    return Response(status_code=204)
