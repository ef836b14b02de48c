"""The renderer's entry point: `RenderRequest` in, an MP4 file out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av

from .compose import FrameComposer
from .encode import write_mp4_atomic
from .scene import MODES, SceneInput, build_scene, seed_of
from .sizes import FPS

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


def _validate(req: RenderRequest) -> None:
    if req.mode not in MODES:
        raise ValueError(f"unknown mode {req.mode!r}; expected one of {', '.join(MODES)}")
    for name, side in (("width", req.width), ("height", req.height)):
        if not _MIN_SIDE <= side <= _MAX_SIDE or side % 2:
            raise ValueError(f"{name} must be even and in {_MIN_SIDE}..{_MAX_SIDE}, not {side}")
    if not 1 <= req.duration <= _MAX_DURATION:
        raise ValueError(f"duration must be 1..{_MAX_DURATION} seconds, not {req.duration}")


def render_video(req: RenderRequest, out_path: Path) -> None:
    """Render `req` to an H.264 MP4 at `out_path` (CPU only, synchronous).

    The file appears atomically (temp file + os.replace).  Thread-safe: every render
    owns its scene, caches and encoder.  Raises ValueError for a bad request or image.
    """
    _validate(req)
    frames = req.frame_count
    scene = build_scene(
        SceneInput(
            mode=req.mode,
            prompt=req.prompt,
            width=req.width,
            height=req.height,
            duration=req.duration,
            frames=frames,
            seed=req.seed(),
            label=req.label,
            first_frame=req.first_frame,
            last_frame=req.last_frame,
            subject=req.subject,
        )
    )
    composer = FrameComposer(scene, frames)

    def generate() -> Iterator[av.VideoFrame]:
        for index in range(frames):
            yield composer.frame(index)

    write_mp4_atomic(generate(), req.width, req.height, Path(out_path))
