"""Prometheus metrics at /metrics, for the admin token or the scrape-only metrics token.

The metrics name channels, count every tenant's tasks and show the gateway's load: an
operator's view, so an anonymous client gets 401. A scraper is given
``REELGATE_METRICS_TOKEN`` (Prometheus: ``authorization: {credentials: ...}``), which
reads this page and nothing else.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from reelgate.api.deps import metrics_page
from reelgate.api.errors import platform_error
from reelgate.errors import ReelgateError
from reelgate.services.metrics_page import MetricsPage
from reelgate.wire import bearer_token

router = APIRouter(tags=["Operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics (admin token or REELGATE_METRICS_TOKEN)",
    response_class=Response,
    responses={401: {"description": "No admin token or metrics token"}},
)
async def metrics(
    request: Request, page: Annotated[MetricsPage, Depends(metrics_page)]
) -> Response:
    # The caller is checked here, not in a dependency: its refusal is a real 401 in the
    # platform's shape with WWW-Authenticate (scrapers see it), where an error raised on
    # this path would read as MiniMax's HTTP 200.
    try:
        await page.admit(bearer_token(request))
    except ReelgateError as exc:
        refused = platform_error(exc, request)
        refused.headers["www-authenticate"] = "Bearer"
        return refused
    return Response(await page.render(), media_type=CONTENT_TYPE_LATEST)
