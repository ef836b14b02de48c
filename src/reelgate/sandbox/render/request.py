"""What to render: `RenderRequest`, checked and seeded. Free of the imaging libraries,
so the sandbox's service (in the gateway's process) can build one without loading them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .sizes import FPS

MODES = ("t2v", "i2v", "fl2v", "s2v")

_MIN_SIDE = 16
_MAX_SIDE = 4096
_MAX_DURATION = 60  # seconds; MiniMax itself stops at 10


@dataclass(frozen=True, slots=True)
class RenderRequest:
    """One sandbox video to render.

    `width`/`height` come from `output_size()`; images are the encoded bytes the client
    sent (JPEG, PNG or WebP).
    """

    mode: str  # "t2v" | "i2v" | "fl2v" | "s2v"
    prompt: str  # may be "" for i2v/fl2v/s2v
    width: int
    height: int
    duration: int  # seconds
    first_frame: bytes | None = None  # i2v and fl2v
    last_frame: bytes | None = None  # fl2v
    subject: bytes | None = None  # s2v
    label: str = "reelgate sandbox"  # the small visible mark

    @property
    def frame_count(self) -> int:
        return self.duration * FPS

    def seed(self) -> int:
        """Hash of every field, so equal requests draw equal pictures."""
        return seed_of(
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


def validate(req: RenderRequest) -> None:
    if req.mode not in MODES:
        raise ValueError(f"unknown mode {req.mode!r}; expected one of {', '.join(MODES)}")
    for name, side in (("width", req.width), ("height", req.height)):
        if not _MIN_SIDE <= side <= _MAX_SIDE or side % 2:
            raise ValueError(f"{name} must be even and in {_MIN_SIDE}..{_MAX_SIDE}, not {side}")
    if not 1 <= req.duration <= _MAX_DURATION:
        raise ValueError(f"duration must be 1..{_MAX_DURATION} seconds, not {req.duration}")


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
