"""The renderer's entry point: `RenderRequest` in, an MP4 file out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av

from .compose import FrameComposer
from .encode import write_mp4_atomic
from .request import RenderRequest, validate
from .scene import SceneInput, build_scene


def render_video(req: RenderRequest, out_path: Path) -> None:
    """Render `req` to an H.264 MP4 at `out_path` (CPU only, synchronous).

    The file appears atomically (temp file + os.replace).  Thread-safe: every render
    owns its scene, caches and encoder.  Raises ValueError for a bad request or image.
    """
    validate(req)
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
