"""Turn a `Scene` into video frames, one camera pose at a time.

Per frame: copy the backdrop view out of the canvas (bands of rows, plain slicing),
cross-fade the second backdrop for fl2v, draw the sprites, let swscale resize the view to
the output size when the camera zooms, then draw the fixed overlays.  All state lives in
a `FrameComposer` owned by one render call, so concurrent renders share nothing.
"""

from __future__ import annotations

import math
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image

from .camera import CameraPose
from .framing import View, even, layer_scale, layer_shift, plan_view
from .scene import Backdrop, Scene, Sprite
from .sizes import FPS
from .yuv import Patch, Planes, blend_patch, crossfade, frame_planes

# Steps per frame width walked, for the bounce of a followed subject; 8 x TRACK (0.25)
# is a whole number of steps, so the subject is back on its feet when a segment ends.
_STEPS_PER_WIDTH = 8.0


def _draw_view(backdrop: Backdrop, view: View, dst: Planes) -> None:
    canvas = backdrop.planes
    half_w = view.width // 2
    for band in view.bands:
        rows = band.row1 - band.row0
        dst.y[band.row0 : band.row1] = canvas.y[
            band.src_y : band.src_y + rows, band.src_x : band.src_x + view.width
        ]
        # Chroma is half size; an odd luma offset rounds down by half a chroma pixel.
        cy, cx, half_rows = band.src_y // 2, band.src_x // 2, rows // 2
        rows_half = slice(band.row0 // 2, band.row1 // 2)
        dst.u[rows_half] = canvas.u[cy : cy + half_rows, cx : cx + half_w]
        dst.v[rows_half] = canvas.v[cy : cy + half_rows, cx : cx + half_w]


def _smoothstep(u: float) -> float:
    return u * u * (3.0 - 2.0 * u)


class FrameComposer:
    """Produces the frames of one scene; not shared between renders."""

    def __init__(self, scene: Scene, frames: int) -> None:
        self._scene = scene
        self._frames = frames
        self._reformatter = VideoReformatter()
        # Last resized patch per sprite: sizes change every frame during a push, so a
        # bigger cache would only grow.
        self._patches: dict[int, tuple[tuple[int, int], Patch]] = {}
        canvas = scene.backdrop.planes
        self._canvas = (canvas.width, canvas.height)
        self._margin = (scene.backdrop.margin_x, scene.backdrop.margin_y)

    def frame(self, index: int) -> av.VideoFrame:
        """Return frame `index` (0-based) as a yuv420p frame with pts = index."""
        scene = self._scene
        u = index / (self._frames - 1) if self._frames > 1 else 0.0
        pose = scene.timeline.pose_at(u)
        view = plan_view(
            pose,
            scene.width,
            scene.height,
            self._canvas,
            self._margin,
            scene.backdrop.depth,
        )
        work = av.VideoFrame(view.width, view.height, "yuv420p")
        planes = frame_planes(work)
        _draw_view(scene.backdrop, view, planes)
        if scene.fade_to is not None:
            self._fade(scene.fade_to, view, planes, u)
        for number, sprite in enumerate(scene.sprites):
            self._draw_sprite(number, sprite, pose, view, planes)
        if (view.width, view.height) == (scene.width, scene.height):
            out = work
        else:
            out = self._reformatter.reformat(
                work, width=scene.width, height=scene.height, interpolation="BILINEAR"
            )
        if scene.overlays or scene.cards:
            screen = frame_planes(out)
            for card in scene.cards:
                corner = card.place(u, scene.width, scene.height)
                if corner is not None:
                    blend_patch(screen, card.patch, *corner)
            for overlay in scene.overlays:
                blend_patch(screen, overlay.patch, overlay.x, overlay.y)
        out.pts = index
        out.time_base = Fraction(1, FPS)
        return out

    def _fade(self, backdrop: Backdrop, view: View, planes: Planes, u: float) -> None:
        weight = round(256 * _smoothstep(u))
        if weight <= 0:
            return
        if weight >= 256:
            _draw_view(backdrop, view, planes)
            return
        other = Planes(np.empty_like(planes.y), np.empty_like(planes.u), np.empty_like(planes.v))
        _draw_view(backdrop, view, other)
        crossfade(planes, other, weight)

    def _draw_sprite(
        self, number: int, sprite: Sprite, pose: CameraPose, view: View, planes: Planes
    ) -> None:
        width, height = self._scene.width, self._scene.height
        scale = layer_scale(pose, sprite.depth)
        shift_x, shift_y = layer_shift(pose, sprite.depth, width, height, followed=sprite.subject)
        size_w, size_h = sprite.image.width * scale, sprite.image.height * scale
        centre_x = width / 2 + (sprite.home_x - 0.5) * width * scale + shift_x
        centre_y = height / 2 + (sprite.home_y - 0.5) * height * scale + shift_y
        if sprite.subject:
            # The walk of a tracking shot bounces the subject once per step.
            step = abs(math.sin(math.pi * _STEPS_PER_WIDTH * pose.track))
            centre_y -= sprite.bob * height * step
            # A subject must stay visible the whole clip.
            if size_w < width:
                centre_x = min(max(centre_x, size_w / 2), width - size_w / 2)
            if size_h < height:
                centre_y = min(max(centre_y, size_h / 2), height - size_h / 2)
        # Map output pixels to view pixels (the view is scaled to the output later).
        kx, ky = view.width / width, view.height / height
        patch_size = (even(size_w * kx), even(size_h * ky))
        patch = self._patch(number, sprite.image, patch_size)
        left = round(centre_x * kx - patch_size[0] / 2)
        top = round(centre_y * ky - patch_size[1] / 2)
        blend_patch(planes, patch, left, top)

    def _patch(self, number: int, image: Image.Image, size: tuple[int, int]) -> Patch:
        cached = self._patches.get(number)
        if cached is not None and cached[0] == size:
            return cached[1]
        resized = image if image.size == size else image.resize(size, Image.Resampling.BILINEAR)
        patch = Patch.from_image(resized)
        self._patches[number] = (size, patch)
        return patch
