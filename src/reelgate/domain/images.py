"""Image inputs: data URLs decoded and checked against MiniMax's image rules.

A public URL is not fetched here: the upstream fetches it, as MiniMax does. Pillow is
used only to read the header and decode, never to write.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from reelgate.errors import InvalidParams

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MIN_SHORT_SIDE = 300  # the short side must be greater than this
MIN_ASPECT, MAX_ASPECT = 2 / 5, 5 / 2
FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}

_DATA_URL = re.compile(r"^data:image/(?P<fmt>[a-zA-Z0-9.+-]+);base64,(?P<data>.*)$", re.DOTALL)


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


def decode_data_url(value: str, field: str) -> bytes:
    """Return the bytes of a ``data:image/<fmt>;base64,...`` URL."""
    match = _DATA_URL.match(value)
    if match is None:
        raise InvalidParams(
            f"invalid params, {field} must be a public URL or a data URL "
            "'data:image/<jpeg|png|webp>;base64,...'"
        )
    raw = match["data"].strip()
    # Base64 is about 4/3 of the bytes: refuse oversized input before decoding it.
    if len(raw) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise InvalidParams(f"invalid params, {field} is larger than 20 MB")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParams(f"invalid params, {field} is not valid base64") from None


def inspect_image(data: bytes, field: str) -> ImageInfo:
    """Decode ``data`` and check it against the image rules, naming ``field`` on failure."""
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidParams(f"invalid params, {field} is larger than 20 MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or ""
                width, height = img.size
                if fmt not in FORMATS:
                    raise InvalidParams(
                        f"invalid params, {field} must be JPG, JPEG, PNG or WebP, not {fmt or '?'}"
                    )
                img.load()  # a truncated or corrupt file fails here, not later upstream
    except InvalidParams:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        raise InvalidParams(f"invalid params, {field} is not a decodable image") from None
    check_dimensions(width, height, field)
    return ImageInfo(FORMATS[fmt], width, height, len(data))


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
