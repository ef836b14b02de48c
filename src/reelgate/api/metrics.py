"""Prometheus metrics at /metrics, for the admin token or the scrape-only metrics token.

The metrics name channels, count every tenant's tasks and show the gateway's load: an
operator's view, so an anonymous client gets 401. A scraper is given
``REELGATE_METRICS_TOKEN`` (Prometheus: ``authorization: {credentials: ...}``), which
reads this page and nothing else.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from reelgate.api.deps import gateway
from reelgate.api.errors import platform_error
from reelgate.domain.signing import same
from reelgate.errors import ReelgateError
from reelgate.wire import bearer_token

router = APIRouter(tags=["Operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics (admin token or REELGATE_METRICS_TOKEN)",
    response_class=Response,
    responses={401: {"description": "No admin token or metrics token"}},
)
async def metrics(request: Request) -> Response:
    gw = gateway(request)
    token = bearer_token(request)
    scrape = gw.settings.metrics_token
    if token is None or scrape is None or not same(scrape.get_secret_value(), token):
        try:
            await gw.auth.admin(token)
        except ReelgateError as exc:  # a real 401, not MiniMax's HTTP 200: scrapers see it
            refused = platform_error(exc, request)
            refused.headers["www-authenticate"] = "Bearer"
            return refused
    for channel, used in (await gw.router.budget_used()).items():
        gw.metrics.budget_used.labels(channel).set(used)
    return Response(generate_latest(gw.metrics.registry), media_type=CONTENT_TYPE_LATEST)
