"""Image bombs: the header is checked (rules, pixel cap) before a single pixel is decoded.

Files here declare their size in a valid header and carry pixel data that is corrupt: a
decode would fail with "not a decodable image", so a refusal that names the size shows
that nothing was decoded.
"""

from __future__ import annotations

import base64
import io
import struct
import time
import zlib

import pytest
from PIL import Image

from reelgate.domain.images import MAX_PIXELS, inspect_image, probe_image
from reelgate.errors import InvalidParams
from reelgate.surfaces.minimax_v1.requests import has_inline_image, parse_video_request


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` and whose pixel data is garbage."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"not zlib at all")
        + chunk(b"IEND", b"")
    )


def grey_png(width: int, height: int, *, corrupt_last_row: bool = False) -> bytes:
    """A real greyscale PNG, compressed as it is streamed (no picture in memory): a few
    KB for millions of pixels. ``corrupt_last_row`` makes only its last row undecodable."""
    packer = zlib.compressobj(1)
    row = b"\x00" * (width + 1)  # filter 0, black
    parts = [packer.compress(row) for _ in range(height - 1)]
    last = (b"\x07" if corrupt_last_row else b"\x00") + b"\x00" * width  # 7: no such filter
    parts += [packer.compress(last), packer.flush()]
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def refusal(data: bytes) -> str:
    with pytest.raises(InvalidParams) as err:
        inspect_image(data, "first_frame_image")
    return err.value.message


def test_the_issue_bomb_is_refused_on_its_header() -> None:
    # 16383x5460: the size of the 4.7 KB WebP from the issue (aspect 3:1)
    message = refusal(png_header_only(16383, 5460))
    assert "16383x5460" in message and "aspect ratio" in message


@pytest.mark.parametrize(
    ("width", "height"),
    [(8192, 8193), (12953, 5182), (65535, 65535)],  # just past the cap; far past
)
def test_past_the_pixel_cap_is_refused_on_its_header(width: int, height: int) -> None:
    assert width * height > MAX_PIXELS
    message = refusal(png_header_only(width, height))
    assert f"more than {MAX_PIXELS:,} pixels" in message
    assert "not a decodable" not in message


def test_at_the_pixel_cap_the_header_passes() -> None:
    info = probe_image(png_header_only(8192, 8192), "first_frame_image")
    assert (info.width, info.height, info.format) == (8192, 8192, "png")
    # ...and only the decode finds the garbage
    assert "not a decodable image" in refusal(png_header_only(8192, 8192))


def test_an_image_at_the_cap_is_decoded_and_accepted() -> None:
    data = grey_png(8192, 8192)
    assert len(data) < 1024 * 1024
    info = inspect_image(data, "first_frame_image")
    assert (info.width, info.height) == (8192, 8192)


def test_a_real_bomb_past_the_cap_is_refused_without_decoding() -> None:
    # only just past the cap, within the aspect rules; a decode would reach its corrupt
    # last row and say "not a decodable image" (after ~0.1 s and 64 MB)
    data = grey_png(12955, 5182, corrupt_last_row=True)
    assert MAX_PIXELS < 12955 * 5182
    started = time.perf_counter()
    message = refusal(data)
    assert time.perf_counter() - started < 0.05
    assert "12955x5182" in message and f"more than {MAX_PIXELS:,} pixels" in message


def test_the_whole_pixel_data_is_decoded_within_the_cap() -> None:
    # the last row is corrupt: only a full decode finds it
    assert "not a decodable image" in refusal(grey_png(2000, 1000, corrupt_last_row=True))


def test_other_formats_are_named_and_never_parsed() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (640, 400)).save(buf, "GIF")
    assert "not GIF" in refusal(buf.getvalue())
    buf = io.BytesIO()
    Image.new("RGB", (640, 400)).save(buf, "TIFF")
    assert "not TIFF" in refusal(buf.getvalue())


def test_inline_images_are_recognised_for_the_decoder_threads() -> None:
    url = "data:image/png;base64," + base64.b64encode(b"x").decode()
    assert has_inline_image({"first_frame_image": url})
    assert has_inline_image({"last_frame_image": url})
    assert has_inline_image({"subject_reference": [{"type": "character", "image": [url]}]})
    assert not has_inline_image({"first_frame_image": "https://example.com/a.png"})
    assert not has_inline_image({"prompt": url})
    assert not has_inline_image(["not", "a", "body"])


def test_a_bomb_in_a_request_is_refused_with_2013() -> None:
    url = "data:image/png;base64," + base64.b64encode(png_header_only(16383, 5460)).decode()
    with pytest.raises(InvalidParams) as err:
        parse_video_request({"model": "MiniMax-Hailuo-2.3", "first_frame_image": url})
    assert err.value.code == 2013
    assert "aspect ratio" in err.value.message
