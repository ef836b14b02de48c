"""Bounded parameter types for routes and request bodies.

Every integer, time and body text a request carries is declared with one of these, so that
a value the store cannot hold is refused with 422 in the route's error shape before any
work, and the bounds show in the OpenAPI schema. Text in the URL is checked once for every
route (``url_without_nul``). See :mod:`reelgate.domain.bounds` for the limits themselves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from annotated_types import Interval
from fastapi import Request
from pydantic import AfterValidator

from reelgate.domain import bounds
from reelgate.errors import InvalidParams

RowId = Annotated[int, Interval(ge=1, le=bounds.INT64_MAX)]
"""The id of a stored row (an account, a key, a ledger entry, a delivery)."""

UtcDatetime = Annotated[datetime, AfterValidator(bounds.to_utc)]
"""An ISO 8601 time, converted to UTC; a time without a zone is UTC."""

Text = Annotated[str, AfterValidator(bounds.storable_text)]
"""Body text that is stored: valid Unicode without NUL."""

Rate = Annotated[int, Interval(ge=1, le=bounds.MAX_RATE)]
InFlight = Annotated[int, Interval(ge=1, le=bounds.MAX_IN_FLIGHT)]
Priority = Annotated[int, Interval(ge=-bounds.MAX_PRIORITY, le=bounds.MAX_PRIORITY)]
Weight = Annotated[int, Interval(ge=0, le=bounds.MAX_WEIGHT)]


async def url_without_nul(request: Request) -> None:
    """Refuse a NUL (``%00``) anywhere in the path or the query, for every route.

    No id or name can hold one, and PostgreSQL refuses it in any text it is compared with
    (a 500 until now). Other text from a URL is always valid Unicode: the server decodes
    it with replacement characters.
    """
    query = request.query_params.multi_items()
    if "\x00" in request.scope["path"] or any("\x00" in k + v for k, v in query):
        raise InvalidParams("invalid params, the URL must not contain a NUL character (%00)")
