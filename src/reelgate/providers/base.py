"""The Provider port: what the services need from an upstream, in domain terms."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from reelgate.domain.channels import Channel
from reelgate.domain.tasks import UpstreamStatus
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
    """One upstream account. Adapters raise only ``reelgate.errors.UpstreamError``s."""

    name: str

    async def submit(self, request: VideoRequest, callback_url: str | None = None) -> str:
        """Create the task upstream; return the upstream's task id."""
        ...

    async def query(self, upstream_task_id: str) -> QueryResult:
        """The task's current status upstream."""
        ...

    async def retrieve_file(self, file_id: str) -> FileInfo:
        """The file object, with a fresh download URL."""
        ...

    def download(self, url: str) -> AsyncIterator[bytes]:
        """Stream the bytes at a download URL the upstream gave."""
        ...


# The composition root picks the adapter: one Provider per channel, built from its row.
ProviderFactory = Callable[[Channel], Provider]
