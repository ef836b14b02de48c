"""YUV 4:2:0 pictures and alpha blending in NumPy.

The renderer works in the encoder's own pixel format: canvases are converted from RGB
once, then every frame is just slicing, a few small blends and (for zooms) one swscale
resize.  Converting every frame from RGB would cost more than the H.264 encode itself.

RGB -> YUV goes through swscale (via PyAV) with its defaults (BT.601, limited range),
which is also what a decoder's `to_ndarray(format="rgb24")` assumes, so colours survive
a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image

U8 = NDArray[np.uint8]
U16 = NDArray[np.uint16]


@dataclass(frozen=True, slots=True)
class Planes:
    """A YUV 4:2:0 picture: full-size luma, half-size chroma.  Width and height are even."""

    y: U8
    u: U8
    v: U8

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        return int(self.y.shape[0])


def frame_planes(frame: av.VideoFrame) -> Planes:
    """Writable NumPy views of a yuv420p frame's planes (no copy; rows may be padded)."""
    views = []
    for plane in frame.planes:
        flat = np.frombuffer(memoryview(plane), dtype=np.uint8)
        views.append(flat.reshape(plane.height, plane.line_size)[:, : plane.width])
    return Planes(views[0], views[1], views[2])


def rgb_to_planes(rgb: U8) -> Planes:
    """Convert an (h, w, 3) RGB array with even sides to YUV 4:2:0 planes (copies)."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    planes = frame_planes(frame.reformat(format="yuv420p"))
    return Planes(planes.y.copy(), planes.u.copy(), planes.v.copy())


def _even_size(image: Image.Image) -> Image.Image:
    width, height = image.size
    if width % 2 == 0 and height % 2 == 0:
        return image
    padded = Image.new(image.mode, (width + width % 2, height + height % 2))
    padded.paste(image, (0, 0))
    return padded


@dataclass(frozen=True, slots=True)
class Patch:
    """An RGBA picture pre-multiplied for fast blending onto `Planes`.

    Alpha is scaled to 0..256 so a blend is `(dst * inv + pre) >> 8` in uint16 without
    a division; `inv = 256 - alpha` and `pre = colour * alpha`.
    """

    y_pre: U16
    u_pre: U16
    v_pre: U16
    inv: U16  # full resolution, for luma
    inv_half: U16  # 2x2 averaged, for chroma

    @property
    def width(self) -> int:
        return int(self.y_pre.shape[1])

    @property
    def height(self) -> int:
        return int(self.y_pre.shape[0])

    @classmethod
    def from_image(cls, image: Image.Image) -> Patch:
        """Build a patch from a Pillow image (any mode; padded to even sides)."""
        rgba = np.asarray(_even_size(image.convert("RGBA")))
        planes = rgb_to_planes(rgba[:, :, :3])
        alpha = (rgba[:, :, 3].astype(np.uint16) * 256 + 127) // 255
        half = alpha.reshape(alpha.shape[0] // 2, 2, alpha.shape[1] // 2, 2)
        alpha_half = (half.sum(axis=(1, 3), dtype=np.uint16) + 2) // 4
        return cls(
            y_pre=planes.y.astype(np.uint16) * alpha,
            u_pre=planes.u.astype(np.uint16) * alpha_half,
            v_pre=planes.v.astype(np.uint16) * alpha_half,
            inv=(256 - alpha).astype(np.uint16),
            inv_half=(256 - alpha_half).astype(np.uint16),
        )


def _blend(dst: U8, pre: U16, inv: U16) -> None:
    # Largest value: 255 * 256 + 128 = 65408, which still fits uint16.
    mixed = dst.astype(np.uint16)
    mixed *= inv
    mixed += pre
    mixed += 128
    mixed >>= 8
    dst[...] = mixed


def blend_patch(dst: Planes, patch: Patch, x: int, y: int) -> None:
    """Draw `patch` with its top-left corner at (x, y) (rounded down to even), clipped."""
    x -= x % 2
    y -= y % 2
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + patch.width, dst.width), min(y + patch.height, dst.height)
    if x1 <= x0 or y1 <= y0:
        return
    src = np.s_[y0 - y : y1 - y, x0 - x : x1 - x]
    _blend(dst.y[y0:y1, x0:x1], patch.y_pre[src], patch.inv[src])
    hx0, hy0, hx1, hy1 = x0 // 2, y0 // 2, x1 // 2, y1 // 2
    half = np.s_[hy0 - y // 2 : hy1 - y // 2, hx0 - x // 2 : hx1 - x // 2]
    _blend(dst.u[hy0:hy1, hx0:hx1], patch.u_pre[half], patch.inv_half[half])
    _blend(dst.v[hy0:hy1, hx0:hx1], patch.v_pre[half], patch.inv_half[half])


def crossfade(dst: Planes, other: Planes, weight: int) -> None:
    """Mix `other` into `dst` in place; `weight` is 0 (all dst) .. 256 (all other)."""
    for a, b in ((dst.y, other.y), (dst.u, other.u), (dst.v, other.v)):
        mixed = a.astype(np.uint16)
        mixed *= 256 - weight
        mixed += b.astype(np.uint16) * np.uint16(weight)
        mixed += 128
        mixed >>= 8
        a[...] = mixed
