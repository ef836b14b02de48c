"""JPEG previews of an MP4: the `thumbnail` and `spritesheet` variants of
`GET /v1/videos/{id}/content` (OpenAI's videos API; reference section 2.2).

OpenAI does not document their sizes, so reelgate chooses:

- **thumbnail**: the frame at 1/3 of the clip (past any fade-in, before the end), scaled
  down to at most `THUMBNAIL_MAX_WIDTH` (640) pixels wide, aspect kept, never scaled up;
- **sprite sheet**: `SPRITE_TILES` (10) frames evenly spaced over the clip (the middle of
  each tenth), each scaled to `SPRITE_TILE_WIDTH` (160) pixels wide, aspect kept, in a
  grid of `SPRITE_COLUMNS` (5) columns, left to right then top to bottom, no gaps: a
  16:9 clip gives an 800 x 180 sheet.

Both are baseline JPEGs (quality 85).  Memory stays bounded: each wanted frame is reached
by seeking to the keyframe before it and decoding forward, and only the scaled-down
tiles are kept.  These functions are CPU bound and synchronous: call them from a thread
(`await asyncio.to_thread(thumbnail_jpeg, path)`), never on the event loop.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
from PIL import Image

from reelgate.errors import UpstreamError

THUMBNAIL_MAX_WIDTH = 640
THUMBNAIL_AT = 1 / 3
SPRITE_TILES = 10
SPRITE_COLUMNS = 5
SPRITE_TILE_WIDTH = 160
JPEG_QUALITY = 85
# Image "videos" (a PNG, a JPEG) open in FFmpeg as one-frame streams; they are not clips.
_IMAGE_FORMATS = ("image2", "_pipe")


class NotAVideo(UpstreamError):
    """The stored file is not a readable video."""

    kind = "not_a_video"


def _scaled(image: Image.Image, max_width: int) -> Image.Image:
    if image.width <= max_width:
        return image
    height = max(1, round(image.height * max_width / image.width))
    return image.resize((max_width, height), Image.Resampling.LANCZOS)


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _frames_at(path: Path, fractions: list[float], max_width: int) -> list[Image.Image]:
    """The frames at `fractions` (0..1) of the clip's length, each scaled to `max_width`."""
    try:
        with av.open(str(path), mode="r") as container:
            if any(tag in container.format.name for tag in _IMAGE_FORMATS):
                raise NotAVideo(f"{path.name} is an image, not a video")
            if not container.streams.video:
                raise NotAVideo(f"{path.name} has no video stream")
            stream = container.streams.video[0]
            seconds = _seconds(container, stream)
            return [_frame_at(container, stream, f * seconds, max_width) for f in fractions]
    except (av.FFmpegError, ValueError, OSError, IndexError) as exc:
        raise NotAVideo(f"{path.name} is not a readable video") from exc


def _seconds(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    """The clip's length: the container's, else the stream's, else 0 (first frame only)."""
    if container.duration:
        return float(container.duration) / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return 0.0


def _frame_at(container: av.container.InputContainer, stream: av.VideoStream,
              target: float, max_width: int) -> Image.Image:  # fmt: skip
    """The first frame at or after `target` seconds (the last one if the clip is shorter)."""
    container.seek(int(target * av.time_base), backward=True)
    last = None
    for frame in container.decode(stream):
        last = frame
        # Half a frame of slack, so a target on a frame's timestamp picks that frame.
        slack = 0.5 / float(stream.average_rate or 24)
        if frame.time is None or frame.time >= target - slack:
            break
    if last is None:
        raise NotAVideo("the video has no frames")
    return _scaled(Image.fromarray(last.to_ndarray(format="rgb24")), max_width)


def thumbnail_jpeg(path: Path) -> bytes:
    """A JPEG of the frame at 1/3 of the clip, at most 640 px wide (runs in a thread)."""
    (frame,) = _frames_at(Path(path), [THUMBNAIL_AT], THUMBNAIL_MAX_WIDTH)
    return _jpeg(frame)


def spritesheet_jpeg(path: Path) -> bytes:
    """A JPEG grid of 10 frames spread over the clip, 160 px wide tiles in 5 columns
    (runs in a thread)."""
    fractions = [(index + 0.5) / SPRITE_TILES for index in range(SPRITE_TILES)]
    tiles = _frames_at(Path(path), fractions, SPRITE_TILE_WIDTH)
    # Tiles are scaled to 160 px wide; a clip narrower than that keeps its own width.
    tile_w, tile_h = tiles[0].size
    rows = -(-len(tiles) // SPRITE_COLUMNS)
    sheet = Image.new("RGB", (tile_w * SPRITE_COLUMNS, tile_h * rows))
    for index, tile in enumerate(tiles):
        row, column = divmod(index, SPRITE_COLUMNS)
        sheet.paste(tile, (column * tile_w, row * tile_h))
    return _jpeg(sheet)
