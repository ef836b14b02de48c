"""Prometheus metrics at /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from reelgate.api.deps import gateway

router = APIRouter(tags=["Operations"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    gw = gateway(request)
    for channel, used in (await gw.router.budget_used()).items():
        gw.metrics.budget_used.labels(channel).set(used)
    return Response(generate_latest(gw.metrics.registry), media_type=CONTENT_TYPE_LATEST)
