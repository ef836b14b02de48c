"""A bounded in-memory log of the calls the sandbox received (and the callbacks it sent).

Tests read it over ``GET /_control/requests?since=<t>`` to count, for instance, how often
a gateway polls. The oldest entries drop out past ``MAX_ENTRIES``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
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

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: deque[LogEntry] = deque(maxlen=max_entries)

    def add(self, entry: LogEntry) -> None:
        self._entries.append(entry)

    def since(self, t: float) -> list[LogEntry]:
        """Entries of calls that arrived after ``t`` and have finished, oldest first."""
        return sorted((e for e in self._entries if e.t > t), key=lambda e: e.t)

    def __len__(self) -> int:
        return len(self._entries)
