"""Thumbnails and sprite sheets of a real MP4 (the OpenAI surface's preview variants).

The clips come from the sandbox renderer: a camera truck makes every frame differ, so a
tile can be matched to the frame it should show.
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import av
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from reelgate.errors import ReelgateError
from reelgate.media.previews import (
    SPRITE_COLUMNS,
    SPRITE_TILE_WIDTH,
    SPRITE_TILES,
    THUMBNAIL_MAX_WIDTH,
    NotAVideo,
    spritesheet_jpeg,
    thumbnail_jpeg,
)
from reelgate.sandbox.render import RenderRequest, render_video

RGB = NDArray[np.uint8]
MOVING = "A walk through the hills at noon [Truck left] [Pan right] [Zoom in]"


def clip(folder: Path, width: int, height: int, seconds: int = 2, api: str = "v1") -> Path:
    path = folder / f"clip-{width}x{height}-{api}.mp4"
    duration = max(seconds, 4) if api == "v2" else seconds
    render_video(RenderRequest("t2v", MOVING, width, height, duration, api=api), path)
    return path


def jpeg(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image


def frames_of(path: Path) -> list[RGB]:
    with av.open(str(path)) as container:
        return [np.asarray(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


def mad(a: RGB, b: RGB) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def resized(frame: RGB, size: tuple[int, int]) -> RGB:
    return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.LANCZOS))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clip(tmp_path_factory.mktemp("previews"), 320, 180)


def test_thumbnail_is_the_frame_at_a_third(small: Path) -> None:
    image = jpeg(thumbnail_jpeg(small))
    assert image.size == (320, 180)  # narrower than 640: never scaled up
    frames = frames_of(small)  # 48 frames; a third in is frame 16
    thumb = np.asarray(image.convert("RGB"))
    distances = [mad(thumb, frame) for frame in frames]
    assert int(np.argmin(distances)) == 16
    assert distances[16] < 4  # JPEG noise only
    assert min(distances[0], distances[-1]) > 3 * distances[16]


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [(640, 360, (640, 360)), (642, 362, (640, 361)), (1344, 768, (640, 366))],
)
def test_thumbnail_width_limit(
    tmp_path: Path, width: int, height: int, expected: tuple[int, int]
) -> None:
    assert THUMBNAIL_MAX_WIDTH == 640
    image = jpeg(thumbnail_jpeg(clip(tmp_path, width, height, seconds=1)))
    assert image.size == expected


def test_sprite_sheet_tiles_follow_the_clip(small: Path) -> None:
    sheet = jpeg(spritesheet_jpeg(small)).convert("RGB")
    tile_w, tile_h = SPRITE_TILE_WIDTH, 90  # 320 x 180 scaled to 160 wide
    rows = SPRITE_TILES // SPRITE_COLUMNS
    assert sheet.size == (tile_w * SPRITE_COLUMNS, tile_h * rows)  # 800 x 180
    frames = frames_of(small)
    tiles = []
    for index in range(SPRITE_TILES):
        row, column = divmod(index, SPRITE_COLUMNS)
        box = (column * tile_w, row * tile_h, (column + 1) * tile_w, (row + 1) * tile_h)
        tiles.append(np.asarray(sheet.crop(box)))
    for index, tile in enumerate(tiles):
        # Tile k shows the middle of the k-th tenth: frame round((k + 0.5) / 10 * 48).
        wanted = int((index + 0.5) / SPRITE_TILES * len(frames) + 0.5)
        distances = [mad(tile, resized(frame, (tile_w, tile_h))) for frame in frames]
        assert abs(int(np.argmin(distances)) - wanted) <= 1, index
    # The clip moves, so neighbouring tiles differ and the first is far from the last.
    assert all(mad(a, b) > 1 for a, b in itertools.pairwise(tiles))
    assert mad(tiles[0], tiles[-1]) > 10


def test_sprite_tile_width_limit(tmp_path: Path) -> None:
    for width, height, tile in ((160, 90, (160, 90)), (162, 92, (160, 91)), (96, 64, (96, 64))):
        sheet = jpeg(spritesheet_jpeg(clip(tmp_path, width, height, seconds=1)))
        assert sheet.size == (tile[0] * SPRITE_COLUMNS, tile[1] * 2), (width, height)


def test_previews_of_a_v2_clip_with_sound(tmp_path: Path) -> None:
    path = clip(tmp_path, 480, 848, api="v2")  # 9:16 with an AAC track
    assert jpeg(thumbnail_jpeg(path)).size == (480, 848)
    assert jpeg(spritesheet_jpeg(path)).size == (160 * 5, 283 * 2)


def _wav(path: Path) -> None:
    with av.open(str(path), mode="w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 8000), dtype=np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


@pytest.mark.parametrize("kind", ["text", "empty", "png", "wav", "truncated", "missing"])
def test_not_a_video_is_refused(tmp_path: Path, small: Path, kind: str) -> None:
    path = tmp_path / f"file.{kind}"
    if kind == "text":
        path.write_text("this is not a video\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "png":
        Image.new("RGB", (64, 64), (200, 0, 0)).save(path, "PNG")
    elif kind == "wav":
        _wav(path)
    elif kind == "truncated":
        path.write_bytes(small.read_bytes()[:200])  # the header only, no index, no frames
    for preview in (thumbnail_jpeg, spritesheet_jpeg):
        with pytest.raises(NotAVideo) as caught:
            preview(path)
        assert isinstance(caught.value, ReelgateError)
        assert path.name in caught.value.message
