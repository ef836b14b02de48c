"""Deterministic CPU video renderer for the sandbox upstream.

It draws honest previews, not generated video: a procedural landscape with the prompt
as a caption (t2v), the given image set in motion (i2v), a cross-fade between two
images (fl2v) or the subject image in a moving scene (s2v), all following the MiniMax
camera commands in the prompt.  See docs/renderer.md.
"""

from __future__ import annotations

from .camera import COMMANDS, parse_camera
from .images import image_size
from .request import RenderRequest, render_video
from .sizes import FPS, output_size

__all__ = [
    "COMMANDS",
    "FPS",
    "RenderRequest",
    "image_size",
    "output_size",
    "parse_camera",
    "render_video",
]
