"""Image inputs: data URLs decoded and checked against MiniMax's image rules.

A public URL is not fetched here: the upstream fetches it, as MiniMax does. Pillow is
used only to read the header and decode, never to write.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from PIL import Image, UnidentifiedImageError

from reelgate.errors import InvalidParams

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MIN_SHORT_SIDE = 300  # the short side must be greater than this
MIN_ASPECT, MAX_ASPECT = 2 / 5, 5 / 2
FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}
_PILLOW_FORMATS = tuple(FORMATS)  # no other parser ever sees a client's bytes

# The most pixels an image may decode to: 2**26 = 67,108,864 (8192x8192), at most 256 MiB
# decoded (4 bytes per pixel). MiniMax's v1 rules bound the file (< 20 MB), the short
# side (> 300 px) and the aspect (2:5 to 5:2) but not the pixels, and a few KB of
# lossless WebP or PNG may declare 16383x5460 and more. The cap admits the photos of
# cameras and phones up to 61 MP (9504x6336) and phones' 50 MP modes (8160x6120); it is
# twice the largest input MiniMax's newer video API documents (5760 px a side: 33 MP)
# and 32 times the largest video made from it (1080P). Only 100 MP and larger originals
# must be scaled down first.
MAX_PIXELS = 1 << 26
# Threads that decode: each holds at most one decoded image (<= 256 MiB).
DECODE_THREADS = max(1, min(4, (os.cpu_count() or 2) // 2))
_DECODERS = ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="image-decode")
# Anything Pillow may raise on a malformed file; mapped to one clear refusal.
_NOT_AN_IMAGE = (
    UnidentifiedImageError,
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)
# Formats refused by name (for the message only): magic bytes, and the length of the
# smallest header that makes a file one of them.
_OTHER_MAGIC = (
    (b"GIF87a", 13, "GIF"),
    (b"GIF89a", 13, "GIF"),
    (b"BM", 26, "BMP"),
    (b"II*\x00", 8, "TIFF"),
    (b"MM\x00*", 8, "TIFF"),
    (b"8BPS", 26, "PSD"),
    (b"\x00\x00\x01\x00", 22, "ICO"),
)
T = TypeVar("T")

_DATA_URL = re.compile(r"^data:image/(?P<fmt>[a-zA-Z0-9.+-]+);base64,(?P<data>.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ImageRules:
    """What one API accepts of an input image: v1 (under 20 MB, short side over 300 px,
    2:5 to 5:2) or v2 (30 MB, each side 256 to 5760 px, 0.4 to 2.5: v2 reference 3.4)."""

    max_bytes: int
    check: Callable[[int, int, str], None]  # the sides, naming the field on failure


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str  # jpeg | png | webp
    width: int
    height: int
    size: int  # bytes


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def is_data_url(value: str) -> bool:
    return value.startswith("data:")


def decode_data_url(value: str, field: str, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """Return the bytes of a ``data:image/<fmt>;base64,...`` URL."""
    match = _DATA_URL.match(value)
    if match is None:
        raise InvalidParams(
            f"invalid params, {field} must be a public URL or a data URL "
            "'data:image/<jpeg|png|webp>;base64,...'"
        )
    raw = match["data"].strip()
    # Base64 is about 4/3 of the bytes: refuse oversized input before decoding it.
    if len(raw) > max_bytes * 4 // 3 + 4:
        raise InvalidParams(f"invalid params, {field} is larger than {_mb(max_bytes)}")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParams(f"invalid params, {field} is not valid base64") from None


def inspect_image(data: bytes, field: str, rules: ImageRules | None = None) -> ImageInfo:
    """Check ``data`` against the image rules, naming ``field`` on failure.

    The header alone gives the format and the size: the rules and the pixel cap are
    checked on it before a single pixel is decoded. Only then is the image decoded (a
    truncated or corrupt file fails here, not later upstream). A decode takes up to a
    second and up to 4 bytes per pixel: call this off the event loop, through
    :func:`in_decoder`.
    """
    return _check(data, field, rules or V1_IMAGES, decode=True)


def probe_image(data: bytes, field: str, rules: ImageRules | None = None) -> ImageInfo:
    """The format and size from the header, checked against the rules; nothing decoded."""
    return _check(data, field, rules or V1_IMAGES, decode=False)


def _mb(size: int) -> str:
    return f"{size // (1024 * 1024)} MB"


def _check(data: bytes, field: str, rules: ImageRules, *, decode: bool) -> ImageInfo:
    if len(data) > rules.max_bytes:
        raise InvalidParams(f"invalid params, {field} is larger than {_mb(rules.max_bytes)}")
    try:
        with Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS) as img:
            fmt = img.format or "?"
            if fmt not in FORMATS:  # MPO: a JPEG variant Pillow's JPEG opener returns
                raise InvalidParams(
                    f"invalid params, {field} must be JPG, JPEG, PNG or WebP, not {fmt}"
                )
            info = ImageInfo(FORMATS[fmt], *img.size, len(data))
            rules.check(info.width, info.height, field)
            if info.width * info.height > MAX_PIXELS:
                raise InvalidParams(_too_many_pixels(field, info.width, info.height))
            if decode:
                img.load()
    except InvalidParams:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard, raised from the header: far above our cap
        raise InvalidParams(_too_many_pixels(field)) from None
    except UnidentifiedImageError:
        other = _other_format(data)
        if other:
            raise InvalidParams(
                f"invalid params, {field} must be JPG, JPEG, PNG or WebP, not {other}"
            ) from None
        raise InvalidParams(f"invalid params, {field} is not a decodable image") from None
    except _NOT_AN_IMAGE:
        raise InvalidParams(f"invalid params, {field} is not a decodable image") from None
    return info


def _too_many_pixels(field: str, width: int = 0, height: int = 0) -> str:
    size = f" is {width}x{height}:" if width else ""
    return (
        f"invalid params, {field}{size} has more than {MAX_PIXELS:,} pixels "
        f"(e.g. 8192x8192); scale it down, the video is at most 1080P"
    )


def _other_format(data: bytes) -> str | None:
    """A format we refuse, named from its magic bytes (for the message only)."""
    for magic, header, name in _OTHER_MAGIC:
        if data.startswith(magic) and len(data) >= header:
            return name
    if len(data) > 32 and data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "HEIC/AVIF"
    return None


async def in_decoder(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` (a parse that may decode images) on the decoder threads, never on the
    event loop. The pool is small on purpose: it bounds the memory of decodes in flight
    (threads x MAX_PIXELS x 4 bytes) and leaves cores to the loop."""
    return await asyncio.get_running_loop().run_in_executor(_DECODERS, fn, *args)


def check_dimensions(width: int, height: int, field: str) -> None:
    short = min(width, height)
    if short <= MIN_SHORT_SIDE:
        raise InvalidParams(
            f"invalid params, {field} is {width}x{height}: its short side must be over "
            f"{MIN_SHORT_SIDE} px"
        )
    ratio = width / height
    if not MIN_ASPECT <= ratio <= MAX_ASPECT:
        raise InvalidParams(
            f"invalid params, {field} is {width}x{height}: its aspect ratio must be "
            "between 2:5 and 5:2"
        )


V2_MIN_SIDE, V2_MAX_SIDE = 256, 5760
V2_MIN_ASPECT, V2_MAX_ASPECT = 0.4, 2.5


def check_v2_dimensions(width: int, height: int, field: str) -> None:
    for side in (width, height):
        if not V2_MIN_SIDE <= side <= V2_MAX_SIDE:
            raise InvalidParams(
                f"invalid params, {field} is {width}x{height}: each side must be "
                f"{V2_MIN_SIDE} to {V2_MAX_SIDE} px"
            )
    if not V2_MIN_ASPECT <= width / height <= V2_MAX_ASPECT:
        raise InvalidParams(
            f"invalid params, {field} is {width}x{height}: its width / height must be "
            f"between {V2_MIN_ASPECT} and {V2_MAX_ASPECT}"
        )


V1_IMAGES = ImageRules(MAX_IMAGE_BYTES, check_dimensions)
V2_IMAGES = ImageRules(30 * 1024 * 1024, check_v2_dimensions)
