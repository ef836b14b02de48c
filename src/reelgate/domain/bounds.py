"""The ranges every number, time and text that a client can send must fit in.

The store holds signed 64-bit integers (``BIGINT``; SQLite's ``INTEGER``), 32-bit ones in
a few PostgreSQL columns, years 1 to 9999, and text that is valid UTF-8 without U+0000. A
value past those limits used to reach the database driver and fail there as a 500. These
bounds are checked at the edge instead (:mod:`reelgate.api.params`), and by the store
where a sum could cross them (a balance), so such a value is a clear 4xx. Where a domain
has a tighter sensible limit, that limit is used.
"""

from __future__ import annotations

from datetime import UTC, datetime

INT64_MAX = 2**63 - 1

# Money: JSON integers of minor units. One movement (a top-up, an initial credit) is
# bounded, and so is a balance, so that a sum can never overflow the BIGINT column.
MAX_AMOUNT = 10**15
MAX_BALANCE = 10**18

# Limits an operator sets on a key or a channel (32-bit columns on PostgreSQL). A million
# requests per minute, or tasks in flight, is far beyond any upstream account.
MAX_RATE = 1_000_000
MAX_IN_FLIGHT = 1_000_000
MAX_PRIORITY = 1_000_000  # a channel's tier, either sign
MAX_WEIGHT = 1_000_000

TIME_RANGE = "years 1 to 9999 in UTC"


def to_utc(value: datetime) -> datetime:
    """The same instant in UTC (a time without a zone means UTC).

    Raises ``ValueError`` for an instant outside years 1 to 9999 once in UTC, such as
    ``0001-01-01T00:01:00+04:04``: Python and the store cannot represent it.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is outside {TIME_RANGE}") from None


def storable_text(value: str) -> str:
    """``value`` if the store can hold it as text, else ``ValueError``.

    PostgreSQL refuses U+0000 in a text value, and neither store can encode a lone
    surrogate (``"\\ud800"`` in JSON) as UTF-8: both used to fail in the driver as a 500.
    (Pydantic refuses lone surrogates for a plain ``str`` field, but not inside an optional
    or a list.)
    """
    if "\x00" in value:
        raise ValueError("must not contain a NUL character (U+0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid unicode text (no lone surrogates)") from None
    return value
