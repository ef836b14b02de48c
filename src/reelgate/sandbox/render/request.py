"""What to render: `RenderRequest`, checked and seeded. Free of the imaging libraries,
so the sandbox's service (in the gateway's process) can build one without loading them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .sizes import FPS, v2_frame_count

MODES = ("t2v", "i2v", "fl2v", "s2v", "l2v", "r2v")
# v1 (Hailuo) modes; v2 (MiniMax-H3) has no subject mode but a last frame alone (l2v)
# and references (r2v): images, videos and audio.
V1_MODES = ("t2v", "i2v", "fl2v", "s2v")
V2_MODES = ("t2v", "i2v", "l2v", "fl2v", "r2v")
APIS = ("v1", "v2")

_MIN_SIDE = 16
_MAX_SIDE = 4096
_MAX_DURATION = 60  # seconds; MiniMax itself stops at 10
V2_MIN_DURATION = 4  # MiniMax-H3 takes 4..15 s (H3-Max 5..15: the caller checks that)
V2_MAX_DURATION = 15
# MiniMax's v2 limits (reference section 3.4): the renderer refuses more than it allows.
MAX_REFERENCE_IMAGES = 9
MAX_REFERENCE_VIDEOS = 3
MAX_REFERENCE_AUDIO = 3


@dataclass(frozen=True, slots=True)
class RenderRequest:
    """One sandbox video to render.

    `width`/`height` come from `output_size()` (v1) or `v2_output_size()` (v2); images are
    the encoded bytes the client sent (JPEG, PNG or WebP), reference videos MP4 bytes,
    reference audio WAV or MP3 bytes.  A v2 render has MiniMax's frame count and an AAC
    soundtrack; a v1 render is silent, with `duration * 24` frames.
    """

    mode: str  # "t2v" | "i2v" | "fl2v" | "s2v" (v1); "t2v" | "i2v" | "l2v" | "fl2v" | "r2v" (v2)
    prompt: str  # may be "" for i2v/fl2v/s2v
    width: int
    height: int
    duration: int  # seconds
    first_frame: bytes | None = None  # i2v and fl2v
    last_frame: bytes | None = None  # fl2v, l2v
    subject: bytes | None = None  # s2v
    label: str = "reelgate sandbox"  # the small visible mark
    api: str = "v1"  # "v1" | "v2"
    references: tuple[bytes, ...] = ()  # r2v: reference images
    reference_videos: tuple[bytes, ...] = ()  # r2v
    reference_audio: tuple[bytes, ...] = ()  # r2v: mixed into the soundtrack

    @property
    def frame_count(self) -> int:
        return v2_frame_count(self.duration) if self.api == "v2" else self.duration * FPS

    @property
    def has_audio(self) -> bool:
        """MiniMax's v2 videos always carry a soundtrack; v1's never do."""
        return self.api == "v2"

    def seed(self) -> int:
        """Hash of every field, so equal requests draw equal pictures."""
        v1_fields = (
            self.mode,
            self.prompt,
            self.width,
            self.height,
            self.duration,
            self.first_frame,
            self.last_frame,
            self.subject,
            self.label,
        )
        if self.api == "v1":
            # v1 requests keep the seed (and so the bytes) they had before v2 existed;
            # validate() refuses v2's fields on a v1 request, so nothing is left out.
            return seed_of(*v1_fields)
        return seed_of(
            *v1_fields,
            self.api,
            *_counted(self.references),
            *_counted(self.reference_videos),
            *_counted(self.reference_audio),
        )


def _counted(items: tuple[bytes, ...]) -> tuple[bytes | int, ...]:
    # The count first, so (a, b), () and (a,), (b,) hash differently.
    return (len(items), *items)


def validate(req: RenderRequest) -> None:
    if req.api not in APIS:
        raise ValueError(f"unknown api {req.api!r}; expected one of {', '.join(APIS)}")
    modes = V2_MODES if req.api == "v2" else V1_MODES
    if req.mode not in modes:
        raise ValueError(f"unknown {req.api} mode {req.mode!r}; expected one of {', '.join(modes)}")
    for name, side in (("width", req.width), ("height", req.height)):
        if not _MIN_SIDE <= side <= _MAX_SIDE or side % 2:
            raise ValueError(f"{name} must be even and in {_MIN_SIDE}..{_MAX_SIDE}, not {side}")
    low, high = (V2_MIN_DURATION, V2_MAX_DURATION) if req.api == "v2" else (1, _MAX_DURATION)
    if not low <= req.duration <= high:
        raise ValueError(f"{req.api} duration must be {low}..{high} seconds, not {req.duration}")
    _validate_references(req)


def _validate_references(req: RenderRequest) -> None:
    has_references = bool(req.references or req.reference_videos or req.reference_audio)
    if has_references and req.mode != "r2v":
        raise ValueError(f"references are for v2's r2v mode, not {req.api} {req.mode}")
    if req.mode != "r2v":
        return
    if not (req.references or req.reference_videos):
        raise ValueError("r2v needs a reference image or video (audio alone is not enough)")
    for what, items, limit in (
        ("reference images", req.references, MAX_REFERENCE_IMAGES),
        ("reference videos", req.reference_videos, MAX_REFERENCE_VIDEOS),
        ("reference audio clips", req.reference_audio, MAX_REFERENCE_AUDIO),
    ):
        if len(items) > limit:
            raise ValueError(f"at most {limit} {what}, not {len(items)}")


def seed_of(*parts: bytes | str | int | None) -> int:
    """A stable 63-bit seed from request fields (Python's hash() is salted per process)."""
    digest = hashlib.sha256()
    for part in parts:
        if part is None:
            digest.update(b"\x00none")
        elif isinstance(part, bytes):
            digest.update(b"\x01" + hashlib.sha256(part).digest())
        else:
            digest.update(b"\x02" + str(part).encode())
        digest.update(b"\xff")
    return int.from_bytes(digest.digest()[:8], "big") >> 1
