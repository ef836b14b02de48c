"""One v2 content item's media value checked: a public URL, an ``mm_file://`` id (a file
uploaded to the upstream, or an earlier output) or a data URI, whose bytes are decoded
and read against v2's rules (images: ``domain/images.py``; video and audio:
``domain/clips.py``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reelgate.domain.clips import AUDIO, MAX_TOTAL_S, VIDEO, decode_clip_uri, probe_clip
from reelgate.domain.images import V2_IMAGES, decode_data_url, inspect_image
from reelgate.domain.urls import parse_web_url
from reelgate.domain.video import Media, MediaKind, Role
from reelgate.errors import InvalidParams

_FILE_ID = re.compile(r"^mm_file://[A-Za-z0-9_-]{1,64}$")
_ROLES = {
    "first_frame": Role.FIRST_FRAME,
    "last_frame": Role.LAST_FRAME,
    "reference_image": Role.REFERENCE,
    "reference_video": Role.REFERENCE,
    "reference_audio": Role.REFERENCE,
}


def check_media(kind: MediaKind, role: str, value: str, where: str) -> Media:
    field = f"{where}.{kind.value}_url.url"
    canonical = _ROLES[role]
    if value.startswith("mm_file://"):
        if not _FILE_ID.match(value):
            raise InvalidParams(f"invalid params, {field} must be mm_file://<file id>")
        return Media(kind, canonical, value)
    if value.startswith(("http://", "https://")):
        parse_web_url(value, f"{field}")
        return Media(kind, canonical, value)
    if not value.startswith("data:"):
        raise InvalidParams(
            f"invalid params, {field} must be a public http(s) URL, an mm_file:// id or a data URI"
        )
    if kind is MediaKind.IMAGE:
        info = inspect_image(decode_data_url(value, field, V2_IMAGES.max_bytes), field, V2_IMAGES)
        return Media(kind, canonical, value, info.width, info.height)
    rules = VIDEO if kind is MediaKind.VIDEO else AUDIO
    clip = probe_clip(decode_clip_uri(value, field, rules), field, rules)
    return Media(kind, canonical, value, clip.width, clip.height, clip.seconds)


def check_totals(media: tuple[Media, ...]) -> None:
    """Reference clips of one kind last at most 15 s together (v2 reference 3.4); only
    inline clips have a known length here (the upstream checks the others)."""
    for kind in (MediaKind.VIDEO, MediaKind.AUDIO):
        total = sum(m.seconds or 0 for m in media if m.kind is kind)
        if total > MAX_TOTAL_S:
            raise InvalidParams(
                f"invalid params, the reference {kind.value} clips last {total:.1f} s "
                f"together; at most {MAX_TOTAL_S:g}"
            )


def has_inline_media(body: Any) -> bool:
    """Whether parsing ``body`` decodes media (a data URI in a content item): such a
    parse belongs on the decoder threads."""
    if not isinstance(body, Mapping) or not isinstance(body.get("content"), list):
        return False
    for item in body["content"]:
        if isinstance(item, Mapping):
            for name in ("image_url", "video_url", "audio_url"):
                payload = item.get(name)
                if isinstance(payload, Mapping) and str(payload.get("url", "")).startswith("data:"):
                    return True
    return False
