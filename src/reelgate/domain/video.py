"""The canonical video request: what a client asks for, whatever wire it came by.

A surface (MiniMax v1, MiniMax v2, OpenAI's ``/v1/videos``) parses its wire into a
:class:`VideoRequest`; the services price, store and route it; a provider translates it
into its upstream's wire. Nothing here knows a field name of any wire: the v1 names in
:meth:`VideoRequest.summary` are the stored record's, kept as they were.

The model catalog (:mod:`reelgate.domain.catalog`) says what each model allows in these
terms: modes, resolutions, durations per resolution, ratios, media.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reelgate.domain.catalog import Mode
from reelgate.domain.images import decode_data_url, inspect_image, is_data_url, is_url
from reelgate.domain.urls import parse_web_url
from reelgate.errors import InvalidParams


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"


class Role(StrEnum):
    """What a medium is for: a frame the video starts or ends on, the subject to keep
    (v1's subject reference), or a free reference (v2's reference image, video, audio)."""

    FIRST_FRAME = "first_frame"
    LAST_FRAME = "last_frame"
    SUBJECT = "subject"
    REFERENCE = "reference"


@dataclass(frozen=True, slots=True)
class Media:
    """One input medium as the client gave it: a public URL, a data URI, or an upstream
    file id (``mm_file://...``), already checked by the surface that parsed it."""

    kind: MediaKind
    role: Role
    source: str
    width: int | None = None  # known for inline images and videos only
    height: int | None = None
    seconds: float | None = None  # known for inline videos and audio only

    @property
    def is_inline(self) -> bool:
        return is_data_url(self.source)

    def describe(self) -> str:
        """A short, storable stand-in: inline bytes are replaced by their digest."""
        if self.is_inline:
            digest = hashlib.sha256(self.source.encode()).hexdigest()[:16]
            size = f";{self.width}x{self.height}" if self.width else ""
            return f"data:{self.kind.value};sha256={digest}{size}"
        return self.source


@dataclass(frozen=True, slots=True)
class VideoRequest:
    """A validated request for one video.

    ``duration`` and ``resolution`` are the effective values (the catalog's defaults
    where the client sent none: the price depends on them); ``explicit`` names the
    fields the client did send, because an upstream applies its own default to a field
    left out and a faithful gateway forwards only what was asked. ``options`` are the
    upstream switches that change nothing the gateway decides (``prompt_optimizer``,
    ``aigc_watermark``...), forwarded as sent.
    """

    model: str
    mode: Mode
    prompt: str
    duration: int
    resolution: str
    ratio: str | None = None
    media: tuple[Media, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    callback_url: str | None = None
    explicit: frozenset[str] = frozenset()

    def role(self, role: Role) -> Media | None:
        """The first medium in ``role``, if any."""
        return next((m for m in self.media if m.role is role), None)

    @property
    def first_frame(self) -> Media | None:
        return self.role(Role.FIRST_FRAME)

    @property
    def last_frame(self) -> Media | None:
        return self.role(Role.LAST_FRAME)

    @property
    def subject(self) -> Media | None:
        return self.role(Role.SUBJECT)

    @property
    def references(self) -> tuple[Media, ...]:
        return tuple(m for m in self.media if m.role is Role.REFERENCE)

    @property
    def has_inline_media(self) -> bool:
        return any(m.is_inline for m in self.media)

    def summary(self) -> dict[str, Any]:
        """What the store keeps of the request: no inline bytes."""
        out: dict[str, Any] = {
            "model": self.model,
            "mode": self.mode.value,
            "prompt": self.prompt,
            "duration": self.duration,
            "resolution": self.resolution,
        }
        if self.ratio is not None:
            out["ratio"] = self.ratio
        for name, medium in (
            ("first_frame_image", self.first_frame),
            ("last_frame_image", self.last_frame),
            ("subject_image", self.subject),
        ):
            if medium is not None:
                out[name] = medium.describe()
        if self.references:
            out["references"] = [{m.kind.value: m.describe()} for m in self.references]
        return out


def image_media(value: str, name: str, role: Role) -> Media:
    """An image field's value checked: a public URL (length, characters, host, port;
    the upstream fetches it) or a data URL (format, size, sides, aspect, pixels)."""
    if is_url(value):
        parse_web_url(value, f"{name} URL")
        return Media(MediaKind.IMAGE, role, value)
    if is_data_url(value):
        info = inspect_image(decode_data_url(value, name), name)
        return Media(MediaKind.IMAGE, role, value, info.width, info.height)
    raise InvalidParams(
        f"invalid params, {name} must be a public http(s) URL or a data URL "
        "'data:image/<jpeg|png|webp>;base64,...'"
    )
