"""Geometry: where each layer of the picture sits for a camera pose (numbers only).

Layers have a *depth*: 1.0 is the reference plane, smaller is further away, larger is
nearer.  Camera *translations* (truck, pedestal, the tracking walk) move a layer in
proportion to its depth, which is what makes them look different from rotations (pan,
tilt), which shift every layer alike.  Likewise push (dolly) scales near layers more
than far ones, while zoom scales everything alike.

The backdrop itself is split into horizontal bands of `BAND_ROWS` rows, each at the depth
its content has under a `DepthProfile`: far above the horizon (sky, distant hills), then
nearer and nearer down to the bottom edge (the ground in front of the camera).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .camera import CameraPose, CameraTimeline

BAND_ROWS = 8  # rows per band: the shift step between bands stays about one pixel
MARGIN_CAP = 0.5  # at most half a frame of canvas beyond each edge


def even(value: float) -> int:
    """Round to the nearest even integer, at least 2."""
    return max(2, 2 * round(value / 2))


def layer_shift(
    pose: CameraPose, depth: float, width: int, height: int, *, followed: bool = False
) -> tuple[float, float]:
    """How far (output pixels, +x right, +y down) the camera moves a layer's content.

    The camera going left/up moves the picture right/down.  A `followed` layer (the
    subject of a tracking shot) walks with the camera, so the walk does not move it.
    """
    walk = 0.0 if followed else pose.track
    dx = -(pose.truck + walk) * depth - pose.pan
    dy = pose.pedestal * depth + pose.tilt
    return (dx * width + pose.shake_x * width, dy * height + pose.shake_y * width)


def layer_scale(pose: CameraPose, depth: float) -> float:
    """Magnification of a layer: zoom applies to all, push in proportion to depth."""
    return math.exp(pose.zoom + pose.push * depth)


@dataclass(frozen=True, slots=True)
class DepthProfile:
    """Depth of backdrop rows: `far` above `horizon` (a fraction of the frame height at
    rest), then growing linearly to `near` at the bottom edge."""

    horizon: float
    far: float
    near: float

    def at(self, fraction: float) -> float:
        """Depth of the content row at `fraction` of the frame height (0 top, 1 bottom)."""
        if fraction <= self.horizon:
            return self.far
        ground = min((fraction - self.horizon) / (1.0 - self.horizon), 1.5)
        return self.far + (self.near - self.far) * ground

    @property
    def extremes(self) -> tuple[float, float]:
        return self.far, self.far + (self.near - self.far) * 1.5


@dataclass(frozen=True, slots=True)
class Band:
    """Copy canvas rows `src_y`.. at column `src_x` into view rows `row0`..`row1`."""

    row0: int
    row1: int
    src_x: int
    src_y: int


@dataclass(frozen=True, slots=True)
class View:
    """The backdrop part of one frame: a (width x height) view made of bands."""

    width: int
    height: int
    bands: tuple[Band, ...]


def plan_view(
    pose: CameraPose,
    out_width: int,
    out_height: int,
    canvas: tuple[int, int],
    margin: tuple[int, int],
    depth: DepthProfile | None,
) -> View:
    """Return which canvas pixels form the frame for `pose` (before scaling to output).

    The view is `out / scale` pixels of canvas, even-sized so 4:2:0 chroma lines up.
    Offsets are clamped to the canvas: a move larger than the margin stops at the edge.
    """
    canvas_w, canvas_h = canvas
    margin_x, margin_y = margin
    scale = max(layer_scale(pose, 1.0), out_width / canvas_w, out_height / canvas_h)
    view_w = min(even(out_width / scale), canvas_w)
    view_h = min(even(out_height / scale), canvas_h)
    scale = out_width / view_w
    graded = depth is not None and bool(pose.truck or pose.pedestal or pose.track)
    count = max(1, view_h // BAND_ROWS) if graded else 1
    centre_x = margin_x + out_width / 2 - view_w / 2
    centre_y = margin_y + out_height / 2 - view_h / 2
    # Tilt and shake move every row alike (depth 0 = no translation part); the rows'
    # depth decides how far the translations move them.
    _, flat_y = layer_shift(pose, 0.0, out_width, out_height)
    bands: list[Band] = []
    for index in range(count):
        row0 = 2 * ((view_h // 2) * index // count)
        row1 = 2 * ((view_h // 2) * (index + 1) // count)
        shift_x, shift_y = layer_shift(pose, 1.0, out_width, out_height)
        if depth is not None and graded:
            # Depth belongs to the content row this band shows, not to the screen row,
            # so the horizon keeps its depth while the camera rises.
            content_row = centre_y - flat_y / scale + (row0 + row1) / 2 - margin_y
            band_depth = depth.at(content_row / out_height)
            shift_x, shift_y = layer_shift(pose, band_depth, out_width, out_height)
        src_x = min(max(round(centre_x - shift_x / scale), 0), canvas_w - view_w)
        src_y = round(centre_y - shift_y / scale) + row0
        src_y = min(max(src_y, 0), canvas_h - (row1 - row0))
        previous = bands[-1] if bands else None
        if (
            previous is not None
            and previous.src_x == src_x
            and previous.src_y + (previous.row1 - previous.row0) == src_y
        ):
            # Same offset as the band above: copy both in one slice.
            bands[-1] = Band(previous.row0, row1, src_x, previous.src_y)
        else:
            bands.append(Band(row0, row1, src_x, src_y))
    return View(view_w, view_h, tuple(bands))


def required_margin(
    timeline: CameraTimeline,
    width: int,
    height: int,
    frames: int,
    depth: DepthProfile | None,
) -> tuple[int, int]:
    """Canvas margin (even pixels per side) that every frame of `timeline` stays inside."""
    need_x = need_y = 0.0
    for index in range(frames):
        pose = timeline.pose_at(index / max(frames - 1, 1))
        scale = layer_scale(pose, 1.0)
        half_w, half_h = width / scale / 2, height / scale / 2
        for layer in depth.extremes if depth is not None else (1.0,):
            shift_x, shift_y = layer_shift(pose, layer, width, height)
            centre_x = width / 2 - shift_x / scale
            centre_y = height / 2 - shift_y / scale
            need_x = max(need_x, half_w - centre_x, centre_x + half_w - width)
            need_y = max(need_y, half_h - centre_y, centre_y + half_h - height)
    margin_x = min(math.ceil(need_x) + 2, int(width * MARGIN_CAP))
    margin_y = min(math.ceil(need_y) + 2, int(height * MARGIN_CAP))
    return margin_x + margin_x % 2, margin_y + margin_y % 2
