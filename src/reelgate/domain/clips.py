"""Inline video and audio inputs (MiniMax v2's reference clips): data URIs decoded and
their container read against v2's rules (reference section 3.4).

Only the container's header is read (streams, duration, size, rate), never a frame:
PyAV (FFmpeg's demuxers) is loaded on the first inline clip, not at import, so that a
gateway that never sees one does not carry it. A probe belongs on the decoder threads
(``images.in_decoder``), like an image decode. A clip given by URL is not fetched here:
the upstream fetches it, as MiniMax does.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass
from typing import Any

from reelgate.domain.images import V2_MAX_ASPECT, V2_MAX_SIDE, V2_MIN_ASPECT, V2_MIN_SIDE
from reelgate.errors import InvalidParams

MB = 1024 * 1024
MIN_CLIP_S, MAX_CLIP_S = 2.0, 15.0  # each clip; and all clips of one kind together
MAX_TOTAL_S = 15.0
MIN_FPS, MAX_FPS = 23.976, 60.0


@dataclass(frozen=True, slots=True)
class ClipRules:
    kind: str  # "video" | "audio"
    formats: tuple[str, ...]  # the <fmt> of data:<kind>/<fmt>;base64,
    max_bytes: int
    codecs: tuple[str, ...]  # the video codecs accepted (audio: any the container holds)


VIDEO = ClipRules("video", ("mp4", "quicktime", "mov"), 50 * MB, ("h264", "hevc"))
AUDIO = ClipRules("audio", ("wav", "x-wav", "wave", "mp3", "mpeg"), 15 * MB, ())

_DATA_URI = re.compile(
    r"^data:(?P<kind>video|audio)/(?P<fmt>[a-z0-9.+-]+);base64,(?P<data>.*)$", re.DOTALL
)


@dataclass(frozen=True, slots=True)
class ClipInfo:
    seconds: float
    width: int | None = None  # video only
    height: int | None = None


def decode_clip_uri(value: str, field: str, rules: ClipRules) -> bytes:
    """The bytes of ``data:<kind>/<fmt>;base64,...``, refused past the size limit before
    they are decoded."""
    match = _DATA_URI.match(value)
    if match is None or match["kind"] != rules.kind or match["fmt"] not in rules.formats:
        shown = "mp4" if rules is VIDEO else "<wav|mp3>"
        raise InvalidParams(
            f"invalid params, {field} must be a public URL, an mm_file:// id or a data URI "
            f"'data:{rules.kind}/{shown};base64,...'"
        )
    raw = match["data"].strip()
    if len(raw) > rules.max_bytes * 4 // 3 + 4:
        raise InvalidParams(f"invalid params, {field} is larger than {rules.max_bytes // MB} MB")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParams(f"invalid params, {field} is not valid base64") from None


def probe_clip(data: bytes, field: str, rules: ClipRules) -> ClipInfo:
    """The clip's length (and a video's size) from its container, checked."""
    import av  # deferred: see the module's docstring

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            info = _read(container, field, rules)
    except InvalidParams:
        raise
    except (av.FFmpegError, ValueError, OSError, IndexError):
        raise InvalidParams(
            f"invalid params, {field} is not a readable {rules.kind} file"
        ) from None
    if not MIN_CLIP_S <= info.seconds <= MAX_CLIP_S:
        raise InvalidParams(
            f"invalid params, {field} lasts {info.seconds:.1f} s; each clip must last "
            f"{MIN_CLIP_S:g} to {MAX_CLIP_S:g} seconds"
        )
    return info


def _read(container: Any, field: str, rules: ClipRules) -> ClipInfo:
    streams = container.streams.video if rules is VIDEO else container.streams.audio
    if not streams:
        raise InvalidParams(f"invalid params, {field} has no {rules.kind} stream")
    stream = streams[0]
    seconds = _seconds(container, stream)
    if rules is AUDIO:
        return ClipInfo(seconds)
    codec = stream.codec_context.name
    if codec not in rules.codecs:
        raise InvalidParams(f"invalid params, {field} must be H.264 or H.265 video, not {codec}")
    width, height = stream.codec_context.width, stream.codec_context.height
    if not (V2_MIN_SIDE <= width <= V2_MAX_SIDE and V2_MIN_SIDE <= height <= V2_MAX_SIDE):
        raise InvalidParams(
            f"invalid params, {field} is {width}x{height}: each side must be "
            f"{V2_MIN_SIDE} to {V2_MAX_SIDE} px"
        )
    if not V2_MIN_ASPECT <= width / height <= V2_MAX_ASPECT:
        raise InvalidParams(
            f"invalid params, {field} is {width}x{height}: its width / height must be "
            f"between {V2_MIN_ASPECT} and {V2_MAX_ASPECT}"
        )
    rate = float(stream.average_rate or 0)
    if not MIN_FPS - 0.01 <= rate <= MAX_FPS + 0.01:
        raise InvalidParams(
            f"invalid params, {field} runs at {rate:.3g} fps; it must be {MIN_FPS} to {MAX_FPS:g}"
        )
    return ClipInfo(seconds, width, height)


def _seconds(container: Any, stream: Any) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000  # av.time_base: microseconds
    raise ValueError("no duration")
