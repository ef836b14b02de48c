"""The Prometheus page (``GET /metrics``): who may read it and what it shows.

The metrics name channels, count every tenant's tasks and show the gateway's load: an
operator's view. The admin token reads it, and so does ``REELGATE_METRICS_TOKEN``, which
is given to a scraper and reads this page and nothing else.
"""

from __future__ import annotations

from prometheus_client import generate_latest

from reelgate.domain.signing import same
from reelgate.services.auth import Authenticator
from reelgate.services.channels import ChannelRouter
from reelgate.services.metrics import Metrics


class MetricsPage:
    def __init__(
        self,
        *,
        metrics: Metrics,
        router: ChannelRouter,
        auth: Authenticator,
        scrape_token: str | None,
    ) -> None:
        self._metrics = metrics
        self._router = router
        self._auth = auth
        self._scrape_token = scrape_token

    async def admit(self, token: str | None) -> None:
        """Return if ``token`` may read the page; raise the admin check's Unauthorized
        otherwise (a scrape token that does not match is judged as an admin token)."""
        scrape = self._scrape_token
        if token is not None and scrape is not None and same(scrape, token):
            return
        await self._auth.admin(token)

    async def render(self) -> bytes:
        """The page in Prometheus' text format, with each channel's budget read now."""
        for channel, used in (await self._router.budget_used()).items():
            self._metrics.budget_used.labels(channel).set(used)
        return generate_latest(self._metrics.registry)
