"""A bounded in-memory log of the calls the sandbox received (and the callbacks it sent).

Tests read it over ``GET /_control/requests?since=<t>`` to count, for instance, how often
a gateway polls. The oldest entries drop out past ``MAX_ENTRIES``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field, fields
from typing import Any

MAX_ENTRIES = 100_000


@dataclass(slots=True)
class LogEntry:
    t: float  # when the call arrived (Unix seconds, the sandbox's clock)
    method: str
    path: str  # relative to the sandbox's base URL, e.g. /v1/query/video_generation
    endpoint: str  # create, query, retrieve, retrieve_content, download, callback_*
    account: str | None = None  # the account id (a hash prefix), once the key is known
    key: str | None = None  # the first characters of the API key sent
    task_id: str | None = None
    file_id: str | None = None
    http_status: int = 0
    code: int | None = None  # base_resp.status_code; None when the answer is not MiniMax JSON
    task_status: str | None = None  # what a query answered
    faults: list[str] = field(default_factory=list)  # injected faults that shaped this call
    duration_s: float = 0.0
    # a create's top-level field names as received (no values): what a gateway forwarded
    body_fields: list[str] | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


_NAMES = tuple(f.name for f in fields(LogEntry))
_FAULTS = _NAMES.index("faults")
_BODY_FIELDS = _NAMES.index("body_fields")


class RequestLog:
    """Entries are kept as tuples of plain values, which the garbage collector stops
    tracking: a full collection over 100,000 tracked entries took ~45 ms, a stall that
    showed in the sandbox's own latencies."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: deque[tuple[Any, ...]] = deque(maxlen=max_entries)

    def add(self, entry: LogEntry) -> None:
        row = [getattr(entry, name) for name in _NAMES]
        row[_FAULTS] = tuple(row[_FAULTS])
        if row[_BODY_FIELDS] is not None:
            row[_BODY_FIELDS] = tuple(row[_BODY_FIELDS])
        self._entries.append(tuple(row))

    def since(self, t: float) -> list[LogEntry]:
        """Entries of calls that arrived after ``t`` and have finished, oldest first."""
        rows = sorted((r for r in self._entries if r[0] > t), key=lambda r: r[0])
        return [_entry(r) for r in rows]

    def __len__(self) -> int:
        return len(self._entries)


def _entry(row: tuple[Any, ...]) -> LogEntry:
    values = list(row)
    values[_FAULTS] = list(values[_FAULTS])
    if values[_BODY_FIELDS] is not None:
        values[_BODY_FIELDS] = list(values[_BODY_FIELDS])
    return LogEntry(*values)
