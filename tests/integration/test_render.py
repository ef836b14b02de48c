"""The sandbox renderer end to end: real MP4s, decoded and measured.

Motion is measured on decoded frames: phase correlation for shifts, a scale search for
zooms.  Camera moves are checked against the documented convention: the camera moving
left/up makes the picture slide right/down.  Most clips are 1 s at 512P to stay fast.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import av
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageOps

from reelgate.sandbox.render import FPS, RenderRequest, output_size, render_video
from tests.video import probe

Gray = NDArray[np.float64]
Pixels = TypeVar("Pixels", NDArray[np.float64], NDArray[np.uint8])
W512, H512 = output_size("512P")  # 912 x 512


# --- test pictures -------------------------------------------------------------------


def textured_image(width: int, height: int, seed: int, fmt: str = "PNG") -> bytes:
    """A busy picture (gradient, checkerboard, discs) so every shift is measurable."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack(
        [xx * 255 // width, yy * 255 // height, ((xx // 37 + yy // 29) % 2) * 140 + 50 + seed * 20],
        axis=-1,
    ).astype(np.uint8)
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    for _ in range(70):
        x, y, r = (
            int(v) for v in (rng.integers(0, width), rng.integers(0, height), rng.integers(8, 50))
        )
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def magenta_subject() -> bytes:
    """A magenta face-sized picture with some stripes: easy to find in a frame."""
    image = Image.new("RGB", (400, 400), (255, 0, 255))
    draw = ImageDraw.Draw(image)
    for x in range(0, 400, 50):
        draw.rectangle((x, 0, x + 8, 400), fill=(200, 0, 200))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


PHOTO = textured_image(1200, 675, seed=1)
LAST = textured_image(1200, 675, seed=3, fmt="JPEG")


# --- rendering and decoding ------------------------------------------------------------


@pytest.fixture
def render(tmp_path: Path) -> Callable[..., bytes]:
    def _render(mode: str, prompt: str, **kwargs: object) -> bytes:
        fields: dict[str, object] = {"width": W512, "height": H512, "duration": 1}
        if mode in ("i2v", "fl2v"):
            fields["first_frame"] = PHOTO
        fields.update(kwargs)
        req = RenderRequest(mode, prompt, **fields)  # type: ignore[arg-type]
        out = tmp_path / f"clip-{len(list(tmp_path.iterdir()))}.mp4"
        render_video(req, out)
        return out.read_bytes()

    return _render


def gray_frames(data: bytes) -> list[Gray]:
    with av.open(io.BytesIO(data), mode="r") as container:
        return [f.to_ndarray(format="gray").astype(np.float64) for f in container.decode(video=0)]


def rgb_frames(data: bytes) -> list[NDArray[np.uint8]]:
    with av.open(io.BytesIO(data), mode="r") as container:
        return [
            np.asarray(f.to_ndarray(format="rgb24"), np.uint8) for f in container.decode(video=0)
        ]


def region(frame: Pixels, x0: float, x1: float, y0: float, y1: float) -> Pixels:
    h, w = frame.shape[:2]
    return frame[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)]


def shift(a: Gray, b: Gray) -> tuple[int, int]:
    """(dx, dy) such that b looks like a moved right by dx and down by dy."""
    window = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa = np.fft.fft2((a - a.mean()) * window)
    fb = np.fft.fft2((b - b.mean()) * window)
    cross = fb * np.conj(fa)
    corr = np.fft.ifft2(cross / (np.abs(cross) + 1e-9)).real
    dy, dx = np.unravel_index(int(np.argmax(corr)), corr.shape)
    h, w = a.shape
    return (int(dx) - w if dx > w // 2 else int(dx), int(dy) - h if dy > h // 2 else int(dy))


def scale(a: Gray, b: Gray) -> float:
    """The factor by which b is a magnified about the frame centre (scale search)."""
    h, w = a.shape
    ch, cw = h // 3, w // 3
    target = b[(h - ch) // 2 : (h + ch) // 2, (w - cw) // 2 : (w + cw) // 2]
    image = Image.fromarray(a.astype(np.uint8))
    best, best_err = 1.0, float("inf")
    for factor in np.arange(0.6, 1.6, 0.01):
        sw, sh = cw / factor, ch / factor
        box = ((w - sw) / 2, (h - sh) / 2, (w + sw) / 2, (h + sh) / 2)
        warped = np.asarray(image.resize((cw, ch), Image.Resampling.BILINEAR, box=box), float)
        err = float(np.abs(warped - target).mean())
        if err < best_err:
            best, best_err = float(factor), err
    return best


def mad(a: NDArray[np.generic], b: NDArray[np.generic]) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


# Away from the corner mark (top left) and, for t2v, the caption (bottom).
def photo_centre(frame: Pixels) -> Pixels:
    return region(frame, 0.2, 0.8, 0.2, 0.8)


# --- container ---------------------------------------------------------------------------


def top_level_boxes(data: bytes) -> list[str]:
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        boxes.append(kind.decode("latin-1"))
        if size < 8:
            break
        offset += size
    return boxes


@pytest.mark.parametrize(("resolution", "duration"), [("512P", 2), ("720P", 1)])
def test_container(render: Callable[..., bytes], resolution: str, duration: int) -> None:
    width, height = output_size(resolution)
    data = render("t2v", "A red fox in the snow", width=width, height=height, duration=duration)
    info = probe(data)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.width, info.height) == (width, height)
    assert info.fps == Fraction(FPS) == 24
    assert info.frames == duration * FPS
    boxes = top_level_boxes(data)
    assert boxes.index("moov") < boxes.index("mdat"), boxes  # faststart
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        assert stream.time_base is not None
        pts = [(frame.pts or 0) * stream.time_base for frame in container.decode(stream)]
    assert pts == [Fraction(i, FPS) for i in range(duration * FPS)]


def test_deterministic_bytes(render: Callable[..., bytes]) -> None:
    prompt = "A lighthouse at night [Pan left, Shake] then [Zoom in]"
    assert render("t2v", prompt) == render("t2v", prompt)
    assert render("i2v", "[Tracking shot]") == render("i2v", "[Tracking shot]")
    assert render("t2v", prompt) != render("t2v", prompt + "!")


def test_thread_safe_and_deterministic(tmp_path: Path) -> None:
    req = RenderRequest("s2v", "[Truck left]", W512, H512, 1, subject=magenta_subject())
    paths = [tmp_path / f"{i}.mp4" for i in range(3)]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda p: render_video(req, p), paths))
    assert len({p.read_bytes() for p in paths}) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.mp4", "1.mp4", "2.mp4"]  # no temp left


def test_bad_requests_leave_no_file(tmp_path: Path) -> None:
    out = tmp_path / "x.mp4"
    with pytest.raises(ValueError, match="first frame"):
        render_video(RenderRequest("i2v", "", W512, H512, 1), out)
    with pytest.raises(ValueError, match="not a readable"):
        render_video(RenderRequest("i2v", "", W512, H512, 1, first_frame=b"nope"), out)
    with pytest.raises(ValueError, match="mode"):
        render_video(RenderRequest("x2v", "", W512, H512, 1), out)
    with pytest.raises(ValueError, match="even"):
        render_video(RenderRequest("t2v", "", 911, H512, 1), out)
    assert list(tmp_path.iterdir()) == []


# --- sizes -------------------------------------------------------------------------------


def test_output_sizes() -> None:
    assert output_size("1080P") == (1920, 1080)
    assert output_size("768P") == (1366, 768)
    assert output_size("720p") == (1280, 720)
    assert output_size("512P") == (912, 512)
    assert output_size("768P", (1920, 1080)) == (1366, 768)
    assert output_size("768P", (1024, 768)) == (1024, 768)
    assert output_size("720P", (600, 1000)) == (720, 1200)
    assert output_size("1080P", (1000, 1000)) == (1080, 1080)
    with pytest.raises(ValueError):
        output_size("4K")


def test_portrait_first_frame(render: Callable[..., bytes]) -> None:
    portrait = textured_image(600, 1000, seed=2)
    width, height = output_size("512P", (600, 1000))
    assert (width, height) == (512, 854)
    data = render("i2v", "[Static shot]", width=width, height=height, first_frame=portrait)
    info = probe(data)
    assert (info.width, info.height) == (512, 854)
    first = rgb_frames(data)[0]
    expected = np.asarray(ImageOps.fit(Image.open(io.BytesIO(portrait)).convert("RGB"), (512, 854)))
    assert mad(region(first, 0.2, 1, 0.1, 1), region(expected, 0.2, 1, 0.1, 1)) < 6


# --- camera moves --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "direction"),
    [
        ("[Pan left]", 1),
        ("[左摇]", 1),
        ("[Pan right]", -1),
        ("[Truck left]", 1),
        ("[Truck right]", -1),
    ],
)
def test_horizontal_moves(render: Callable[..., bytes], prompt: str, direction: int) -> None:
    frames = gray_frames(render("i2v", prompt))
    dx, dy = shift(photo_centre(frames[0]), photo_centre(frames[-1]))
    assert dx * direction > 60, (dx, dy)  # 12% of 912 px is about 109
    assert abs(dy) <= 2


def test_truck_has_parallax_and_pan_does_not(render: Callable[..., bytes]) -> None:
    def top_and_bottom(prompt: str) -> tuple[int, int]:
        frames = gray_frames(render("i2v", prompt))
        top = [region(f, 0.25, 0.85, 0.1, 0.35) for f in (frames[0], frames[-1])]
        bottom = [region(f, 0.25, 0.85, 0.65, 0.9) for f in (frames[0], frames[-1])]
        return shift(*top)[0], shift(*bottom)[0]

    pan_top, pan_bottom = top_and_bottom("[Pan left]")
    truck_top, truck_bottom = top_and_bottom("[Truck left]")
    assert abs(pan_top - pan_bottom) <= 2
    assert truck_bottom - truck_top > 10  # the near (bottom) part moves more


def test_t2v_truck_moves_ground_more_than_sky(render: Callable[..., bytes]) -> None:
    frames = gray_frames(render("t2v", "a quiet valley [Truck left]"))
    sky = shift(
        region(frames[0], 0.25, 0.95, 0.08, 0.45), region(frames[-1], 0.25, 0.95, 0.08, 0.45)
    )
    ground = shift(
        region(frames[0], 0.05, 0.95, 0.62, 0.76), region(frames[-1], 0.05, 0.95, 0.62, 0.76)
    )
    assert 0 < sky[0] < ground[0], (sky, ground)


@pytest.mark.parametrize(
    ("prompt", "direction"),
    [
        ("[Pedestal up]", 1),
        ("[上升]", 1),
        ("[Pedestal down]", -1),
        ("[Tilt up]", 1),
        ("[Tilt down]", -1),
    ],
)
def test_vertical_moves(render: Callable[..., bytes], prompt: str, direction: int) -> None:
    frames = gray_frames(render("i2v", prompt))
    dx, dy = shift(photo_centre(frames[0]), photo_centre(frames[-1]))
    assert dy * direction > 30, (dx, dy)  # 10% of 512 px is about 51
    assert abs(dx) <= 2


@pytest.mark.parametrize(
    ("prompt", "grows"),
    [
        ("[Push in]", True),
        ("[推进]", True),
        ("[Zoom in]", True),
        ("[Pull out]", False),
        ("[Zoom out]", False),
    ],
)
def test_scale_moves(render: Callable[..., bytes], prompt: str, grows: bool) -> None:
    frames = gray_frames(render("i2v", prompt))
    factor = scale(frames[0], frames[-1])
    if grows:
        assert factor > 1.15, factor
    else:
        assert factor < 0.87, factor


def test_static_shot(render: Callable[..., bytes]) -> None:
    frames = gray_frames(render("i2v", "[Static shot]"))
    assert mad(frames[0], frames[-1]) < 1.0
    t2v = gray_frames(render("t2v", "a cabin [固定]"))
    assert mad(t2v[0], t2v[-1]) < 1.0


def test_shake_jitters_and_settles(render: Callable[..., bytes]) -> None:
    frames = gray_frames(render("i2v", "[Shake]", duration=2))
    shifts = [shift(photo_centre(frames[0]), photo_centre(f)) for f in frames]
    sizes = [abs(dx) + abs(dy) for dx, dy in shifts]
    assert max(sizes) >= 4, shifts
    assert sizes[-1] <= 1
    assert abs(np.mean([dx for dx, _ in shifts])) < 3
    assert abs(np.mean([dy for _, dy in shifts])) < 3


def test_sequence_goes_and_comes_back(render: Callable[..., bytes]) -> None:
    frames = gray_frames(render("i2v", "[Pan left] looks around [Pan right]", duration=2))
    middle = len(frames) // 2
    out = shift(photo_centre(frames[0]), photo_centre(frames[middle]))
    back = shift(photo_centre(frames[middle]), photo_centre(frames[-1]))
    total = shift(photo_centre(frames[0]), photo_centre(frames[-1]))
    assert out[0] > 60 and back[0] < -60, (out, back)
    assert abs(total[0]) <= 2


def test_tracking_keeps_subject_centred(render: Callable[..., bytes]) -> None:
    frames = gray_frames(render("i2v", "[Tracking shot]"))
    # The middle of the picture stays put ...
    assert (
        mad(region(frames[0], 0.42, 0.58, 0.35, 0.65), region(frames[-1], 0.42, 0.58, 0.35, 0.65))
        < 4
    )
    # ... while the surroundings move left (the camera follows a subject walking right).
    left = shift(region(frames[0], 0.0, 0.3, 0.1, 0.9), region(frames[-1], 0.0, 0.3, 0.1, 0.9))
    assert left[0] < -60, left


def test_t2v_tracking_figure_stays(render: Callable[..., bytes]) -> None:
    frames = gray_frames(render("t2v", "a walk [Tracking shot]"))
    figure = (0.475, 0.525, 0.52, 0.7)  # the figure's body, not the ground around it
    assert mad(region(frames[0], *figure), region(frames[-1], *figure)) < 3
    sky = shift(region(frames[0], 0.2, 0.95, 0.08, 0.45), region(frames[-1], 0.2, 0.95, 0.08, 0.45))
    assert sky[0] < -20, sky


# --- modes ---------------------------------------------------------------------------------


def test_i2v_starts_on_the_image(render: Callable[..., bytes]) -> None:
    first = rgb_frames(render("i2v", "A street [Zoom in]"))[0]
    expected = np.asarray(ImageOps.fit(Image.open(io.BytesIO(PHOTO)).convert("RGB"), (W512, H512)))
    assert mad(photo_centre(first), photo_centre(expected)) < 6
    assert mad(first, expected) < 8  # the whole frame, corner mark included


def test_fl2v_goes_from_first_to_last(render: Callable[..., bytes]) -> None:
    frames = rgb_frames(render("fl2v", "", last_frame=LAST, duration=2))
    first = np.asarray(ImageOps.fit(Image.open(io.BytesIO(PHOTO)).convert("RGB"), (W512, H512)))
    last = np.asarray(ImageOps.fit(Image.open(io.BytesIO(LAST)).convert("RGB"), (W512, H512)))
    assert mad(frames[0], first) < 12
    assert mad(frames[-1], last) < 12
    middle = frames[len(frames) // 2]
    assert mad(middle, first) > 15 and mad(middle, last) > 15


def test_fl2v_with_camera_still_lands_on_last(render: Callable[..., bytes]) -> None:
    frames = rgb_frames(render("fl2v", "[Truck left, Zoom in]", last_frame=LAST))
    last = np.asarray(ImageOps.fit(Image.open(io.BytesIO(LAST)).convert("RGB"), (W512, H512)))
    assert mad(frames[-1], last) < 12


def test_s2v_subject_visible_throughout(render: Callable[..., bytes]) -> None:
    # Six pans left would push an ordinary layer out of the frame; the subject stays.
    prompt = "a hero in the desert " + "[Pan left] " * 6
    frames = rgb_frames(render("s2v", prompt, subject=magenta_subject(), duration=2))
    for index in (0, len(frames) // 2, len(frames) - 1):
        rgb = frames[index].astype(int)
        magenta = (rgb[..., 0] > 150) & (rgb[..., 2] > 150) & (rgb[..., 1] < 90)
        # A disc a third of the frame high: about pi/4 * (512/3)^2 = 23k pixels.
        assert magenta.sum() > 15_000, (index, int(magenta.sum()))


def test_corner_mark(render: Callable[..., bytes]) -> None:
    marked = rgb_frames(render("i2v", "[Static shot]"))
    bare = rgb_frames(render("i2v", "[Static shot]", label=""))
    corner = (0.0, 0.2, 0.0, 0.1)
    for index in (0, len(marked) - 1):
        assert mad(region(marked[index], *corner), region(bare[index], *corner)) > 5
        assert mad(region(marked[index], 0.3, 1, 0.2, 1), region(bare[index], 0.3, 1, 0.2, 1)) < 1


def test_t2v_shows_the_prompt(render: Callable[..., bytes]) -> None:
    # Night palette: a dark ground, so white caption text stands out at the bottom.
    frame = rgb_frames(render("t2v", "A night walk " + "with a long caption " * 3))[-1]
    bottom = region(frame, 0.05, 0.95, 0.75, 0.98)
    white = (bottom.min(axis=-1) > 200).sum()
    assert white > 300, white


def test_chinese_prompt_renders(render: Callable[..., bytes]) -> None:
    data = render("t2v", "一只猫在屋顶上散步[左摇，上升]然后[固定]")
    assert probe(data).frames == FPS
