"""Decode request images and fit them to the output frame."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .yuv import U8


def decode_image(data: bytes, what: str) -> Image.Image:
    """Decode JPEG/PNG/WebP bytes to an upright RGB image; ValueError if unreadable."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            # Phones store rotation in EXIF; the video should match what people see.
            image = ImageOps.exif_transpose(opened)
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                # Transparent areas become white, as browsers show them on a page.
                rgba = image.convert("RGBA")
                flat = Image.new("RGB", rgba.size, (255, 255, 255))
                flat.paste(rgba, mask=rgba.getchannel("A"))
                return flat
            return image.convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise ValueError(f"{what} is not a readable JPEG, PNG or WebP image") from exc


def image_size(data: bytes) -> tuple[int, int]:
    """Return (width, height) of encoded image bytes as displayed (EXIF rotation applied)."""
    return decode_image(data, "image").size


def cover(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale `image` to cover width x height and crop the centre (no bars, no stretch)."""
    return ImageOps.fit(image, (width, height), method=Image.Resampling.LANCZOS)


def fit_rgb(data: bytes, width: int, height: int, what: str) -> U8:
    """Decode `data` and return it covering the frame as an (height, width, 3) array."""
    return np.asarray(cover(decode_image(data, what), width, height), dtype=np.uint8)


def pad_reflect(rgb: U8, margin_x: int, margin_y: int) -> U8:
    """Extend a picture by mirroring its edges, for camera moves past the image border."""
    height, width = rgb.shape[:2]
    # np.pad "reflect" needs the pad to be smaller than the side; repeat if it is not.
    while margin_x >= width or margin_y >= height:
        step_x, step_y = min(margin_x, width - 1), min(margin_y, height - 1)
        rgb = np.pad(rgb, ((step_y, step_y), (step_x, step_x), (0, 0)), mode="reflect")
        margin_x, margin_y = margin_x - step_x, margin_y - step_y
        height, width = rgb.shape[:2]
    return np.pad(rgb, ((margin_y, margin_y), (margin_x, margin_x), (0, 0)), mode="reflect")
