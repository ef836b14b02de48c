"""Deterministic CPU video renderer for the sandbox upstream.

It draws honest previews, not generated video: a procedural landscape with the prompt
as a caption (t2v), the given image set in motion (i2v), a cross-fade between two
images (fl2v) or the subject image in a moving scene (s2v), all following the MiniMax
camera commands in the prompt.  MiniMax v2 (H3) renders add the ratio's frame size,
MiniMax's frame count, a generated soundtrack, a last frame alone (l2v) and reference
media shown as cards (r2v).  See docs/renderer.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .camera import COMMANDS, parse_camera
from .request import RenderRequest
from .sizes import FPS, V2_RATIOS, output_size, v2_frame_count, v2_output_size, v2_ratio

if TYPE_CHECKING:
    from .images import image_size
    from .video import render_video

__all__ = [
    "COMMANDS",
    "FPS",
    "V2_RATIOS",
    "RenderRequest",
    "image_size",
    "output_size",
    "parse_camera",
    "render_video",
    "v2_frame_count",
    "v2_output_size",
    "v2_ratio",
]


def __getattr__(name: str) -> Any:
    # The drawing and encoding half (numpy, PyAV, Pillow: ~45 MiB) loads on first use, in
    # the render workers, not in the gateway's process that mounts the sandbox.
    if name == "render_video":
        from .video import render_video

        return render_video
    if name == "image_size":
        from .images import image_size

        return image_size
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
