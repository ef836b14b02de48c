"""The Provider port: what the services need from an upstream, in domain terms."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from reelgate.domain.channels import Channel
from reelgate.domain.tasks import UpstreamStatus, Usage
from reelgate.domain.upstream_fields import Scalar
from reelgate.domain.video import VideoRequest


@dataclass(frozen=True, slots=True)
class QueryResult:
    status: UpstreamStatus
    file_id: str | None = None
    width: int | None = None
    height: int | None = None
    error_code: int = 0
    error_message: str = ""
    usage: Usage | None = None  # v2: what the upstream billed, once succeeded
    ratio: str | None = None  # v2: the ratio the upstream chose


@dataclass(frozen=True, slots=True)
class PushedStatus:
    """A pushed status change: the upstream's task id it names (if any) and the result;
    ``complete``: a success that carries all a poll would (else a poll confirms it)."""

    task_id: str
    result: QueryResult
    complete: bool = True


@dataclass(frozen=True, slots=True)
class FileInfo:
    file_id: str
    bytes: int | None
    filename: str
    download_url: str
    created_at: datetime | None
    expires_at: datetime | None  # when download_url stops working, as far as we know
    # the file object's other fields (e.g. backup_download_url), bounded: see
    # domain/upstream_fields.py
    extra: Mapping[str, Scalar] = field(default_factory=dict)


class Provider(Protocol):
    """One upstream account. Adapters raise only ``reelgate.errors.UpstreamError``s.

    ``model`` is the task's: an account may serve its models over several wires (MiniMax:
    v1 for Hailuo, v2 for H3), and the catalog says which (``VideoModel.api``)."""

    name: str

    async def submit(self, request: VideoRequest, callback_url: str | None = None) -> str:
        """Create the task upstream; return the upstream's task id."""
        ...

    async def query(self, upstream_task_id: str, model: str | None = None) -> QueryResult:
        """The task's current status upstream."""
        ...

    async def retrieve_file(self, file_id: str, model: str | None = None) -> FileInfo:
        """The file object, with a fresh download URL."""
        ...

    async def cancel(self, upstream_task_id: str, model: str | None = None) -> bool:
        """Cancel a task the upstream has not started; False where the wire cannot."""
        ...

    def read_push(
        self, body: Mapping[str, object], model: str | None = None
    ) -> PushedStatus | None:
        """What a status change the upstream pushed says (None: nothing usable)."""
        ...

    def download(self, url: str) -> AsyncIterator[bytes]:
        """Stream the bytes at a download URL the upstream gave."""
        ...


# The composition root picks the adapter: one Provider per channel, built from its row.
ProviderFactory = Callable[[Channel], Provider]
