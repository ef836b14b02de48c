"""What the gateway keeps of the fields an upstream's answer carries beyond the ones it knows.

MiniMax's answers grow fields its documentation does not list (``files/retrieve`` also
sends ``backup_download_url``, reference 2.2), and clients use them. The gateway passes
such fields on, but it stores them and serves them to clients, so what it keeps is
bounded: a few scalar fields with plain names, short values the store can hold, and
nothing that looks like a credential or contains the upstream's own key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from reelgate.domain.bounds import INT64_MAX

Scalar = str | int | float | bool | None

# The file object's fields the gateway writes itself (reference 2.2).
KNOWN_FILE_FIELDS = frozenset(
    {"file_id", "bytes", "created_at", "filename", "purpose", "download_url"}
)

MAX_FIELDS = 16  # fields kept per object
MAX_NAME_CHARS = 64
MAX_VALUE_CHARS = 4096  # a signed object-store URL is a few hundred characters
MAX_TOTAL_BYTES = 16 * 1024  # the kept fields as JSON

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
# Names of credentials: such a field is never kept, whatever its value.
_SECRET_NAME = re.compile(
    r"key|secret|token|passw|auth|credential|cookie|session|signature", re.IGNORECASE
)


def extra_fields(
    obj: Mapping[str, Any], known: frozenset[str], secrets: Iterable[str] = ()
) -> dict[str, Scalar]:
    """The fields of ``obj`` not in ``known`` that are safe to keep and pass on, in order.

    ``secrets`` are strings that must never leave the gateway (the upstream's API key): a
    value containing one is dropped. Whatever does not fit the bounds above is dropped,
    field by field; the rest of the answer is unaffected.
    """
    hidden = [s for s in secrets if s]
    kept: dict[str, Scalar] = {}
    size = 2  # "{}"
    for name, value in obj.items():
        if len(kept) >= MAX_FIELDS:
            break
        if not isinstance(name, str) or name in known or not _plain_name(name):
            continue
        if _SECRET_NAME.search(name) or not _scalar(value):
            continue
        if isinstance(value, str) and any(s in value for s in hidden):
            continue
        cost = len(json.dumps({name: value}, ensure_ascii=False).encode()) - 1  # and a comma
        if size + cost > MAX_TOTAL_BYTES:
            continue
        kept[name] = value
        size += cost
    return kept


def is_http_url(value: object) -> bool:
    """Whether a field's value is an http(s) URL (a link to the file, as far as we know)."""
    return isinstance(value, str) and value[:8].lower().startswith(("http://", "https://"))


def _plain_name(name: str) -> bool:
    return len(name) <= MAX_NAME_CHARS and _NAME.fullmatch(name) is not None


def _scalar(value: object) -> bool:
    """A JSON scalar both stores hold as it is: no NaN, no 64-bit overflow, storable text."""
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -INT64_MAX - 1 <= value <= INT64_MAX
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS or "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate
            return False
        return True
    return False
