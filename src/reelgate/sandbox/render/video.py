"""The renderer's entry point: `RenderRequest` in, an MP4 file out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av

from .audio import soundtrack
from .compose import FrameComposer
from .encode import write_mp4_atomic
from .request import RenderRequest, validate
from .scene import SceneInput, build_scene


def render_video(req: RenderRequest, out_path: Path) -> None:
    """Render `req` to an H.264 MP4 at `out_path` (CPU only, synchronous).

    A v2 request (`api="v2"`) gets MiniMax's frame count (17n + 5) and a stereo AAC
    soundtrack of the same length.  The file appears atomically (temp file +
    os.replace).  Thread-safe: every render owns its scene, caches and encoder.  Raises
    ValueError for a bad request or image.
    """
    validate(req)
    frames = req.frame_count
    seed = req.seed()
    scene = build_scene(
        SceneInput(
            mode=req.mode,
            prompt=req.prompt,
            width=req.width,
            height=req.height,
            duration=req.duration,
            frames=frames,
            seed=seed,
            label=req.label,
            first_frame=req.first_frame,
            last_frame=req.last_frame,
            subject=req.subject,
            references=req.references,
            reference_videos=req.reference_videos,
        )
    )
    audio = soundtrack(req.prompt, seed, frames, req.reference_audio) if req.has_audio else None
    composer = FrameComposer(scene, frames)

    def generate() -> Iterator[av.VideoFrame]:
        for index in range(frames):
            yield composer.frame(index)

    write_mp4_atomic(generate(), req.width, req.height, Path(out_path), audio)
