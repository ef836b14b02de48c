"""Output frame rate and frame sizes for the sandbox renderer."""

from __future__ import annotations

import math

# MiniMax does not document its frame rate for Hailuo (see the reference, section 2.5);
# 24 fps matches the newer H3 models and is what the sandbox promises.
FPS: int = 24

# Short and long side of the 16:9 text-to-video sizes.  1080P, 768P and 720P are the
# sizes real MiniMax responses carry; 512P is unconfirmed upstream, so the sandbox uses
# 912x512 (16:9 rounded up to a multiple of 16, like 1366 is for 768P).
_SIZES: dict[str, tuple[int, int]] = {
    "1080P": (1920, 1080),
    "768P": (1366, 768),
    "720P": (1280, 720),
    "512P": (912, 512),
}

# MiniMax accepts images between 2:5 and 5:2; clamp to that so a stray panorama cannot
# ask for a 20,000-pixel-wide video.
_MIN_RATIO = 2 / 5
_MAX_RATIO = 5 / 2
# A first frame this close to 16:9 gets exactly the table size above.
_WIDESCREEN_TOLERANCE = 0.01


def _even(value: float) -> int:
    """Round to the nearest even integer (H.264 4:2:0 needs even sides)."""
    return max(2, 2 * round(value / 2))


def output_size(
    resolution: str, first_frame_size: tuple[int, int] | None = None
) -> tuple[int, int]:
    """Return the (width, height) of a video at `resolution`.

    Without a first frame the video is 16:9: 1080P -> 1920x1080, 768P -> 1366x768,
    720P -> 1280x720, 512P -> 912x512.  With a first frame the short side stays the
    asked one (1080, 768, 720 or 512) and the long side follows the image's aspect
    ratio, rounded to an even number, so a portrait image gives a portrait video.
    """
    key = resolution.strip().upper()
    if key not in _SIZES:
        known = ", ".join(_SIZES)
        raise ValueError(f"unknown resolution {resolution!r}; expected one of {known}")
    long_side, short_side = _SIZES[key]
    if first_frame_size is None:
        return long_side, short_side
    width, height = first_frame_size
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid first frame size {width}x{height}")
    ratio = min(max(width / height, _MIN_RATIO), _MAX_RATIO)
    portrait = ratio < 1
    aspect = 1 / ratio if portrait else ratio
    long = long_side if abs(aspect - 16 / 9) < _WIDESCREEN_TOLERANCE else _even(short_side * aspect)
    return (short_side, long) if portrait else (long, short_side)


# --- MiniMax v2 (MiniMax-H3, H3-Max) ---------------------------------------------------

# The six ratios a v2 task can be rendered at; `adaptive` resolves to one of them.
V2_RATIOS: tuple[str, ...] = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9")
ADAPTIVE = "adaptive"
_RATIO_VALUES: dict[str, float] = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0, "4:3": 4 / 3,
                                   "3:4": 3 / 4, "21:9": 21 / 9}  # fmt: skip

# Frame sizes per resolution and ratio (reference section 5.3).  768P is the table a
# third-party gateway lists and that fits MiniMax's published grid (sides multiples of 32,
# area at most 768 x 1344); 2K is VAI's list (16:9 2560x1440 is also reported by civitai).
# 480P (H3-Max) is not published: the sandbox applies 768P's rule with multiples of 16,
# short side 480 (16:9 long side 480 * 16/9 = 853 rounded down to 848), the area at most
# 848 x 480, and 21:9 the size within that area nearest 21:9 (976 x 416).
_V2_SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "480P": {"16:9": (848, 480), "9:16": (480, 848), "1:1": (480, 480),
             "4:3": (640, 480), "3:4": (480, 640), "21:9": (976, 416)},
    "768P": {"16:9": (1344, 768), "9:16": (768, 1344), "1:1": (768, 768),
             "4:3": (1024, 768), "3:4": (768, 1024), "21:9": (1536, 672)},
    "2K": {"16:9": (2560, 1440), "9:16": (1440, 2560), "1:1": (2048, 2048),
           "4:3": (2048, 1536), "3:4": (1536, 2048), "21:9": (2560, 1080)},
}  # fmt: skip

# MiniMax's v2 clips have 17n + 5 frames, 107..362 (about 4..15 s at 24 fps).
V2_FRAME_STEP = 17
V2_FRAME_OFFSET = 5
V2_MIN_FRAMES = 107
V2_MAX_FRAMES = 362


def v2_ratio(ratio: str, image_size: tuple[int, int] | None = None) -> str:
    """Resolve a v2 `ratio` to one of `V2_RATIOS` (what the task echoes as its ratio).

    `adaptive` follows the image's aspect (the ratio nearest on a log scale, so 2:1 and
    1:2 are treated alike) when there is an image, else 16:9.  Any other value must be
    one of the six ratios.
    """
    key = ratio.strip()
    if key in _RATIO_VALUES:
        return key
    if key != ADAPTIVE:
        raise ValueError(f"unknown ratio {ratio!r}; expected adaptive or one of {V2_RATIOS}")
    if image_size is None:
        return "16:9"
    width, height = image_size
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid image size {width}x{height}")
    aspect = math.log(width / height)
    return min(V2_RATIOS, key=lambda name: abs(math.log(_RATIO_VALUES[name]) - aspect))


def v2_output_size(
    resolution: str, ratio: str, first_frame_size: tuple[int, int] | None = None
) -> tuple[int, int]:
    """Return the (width, height) of a v2 video: 768P 16:9 -> 1344x768, 2K 9:16 ->
    1440x2560, 480P 4:3 -> 640x480...  `adaptive` follows `first_frame_size` (see
    `v2_ratio`); the caller passes the size of the image the clip is built on (first
    frame, else last frame, else the first reference image), or None."""
    key = resolution.strip().upper()
    if key not in _V2_SIZES:
        known = ", ".join(_V2_SIZES)
        raise ValueError(f"unknown v2 resolution {resolution!r}; expected one of {known}")
    return _V2_SIZES[key][v2_ratio(ratio, first_frame_size)]


def v2_frame_count(duration: int) -> int:
    """Frames of a v2 clip: the smallest 17n + 5 >= 24 * duration, within 107..362.

    So 4 s -> 107 (4.46 s), 6 s -> 158, 15 s -> 362: clips run slightly longer than asked,
    as MiniMax's do.
    """
    wanted = duration * FPS
    steps = max(0, math.ceil((wanted - V2_FRAME_OFFSET) / V2_FRAME_STEP))
    frames = V2_FRAME_STEP * steps + V2_FRAME_OFFSET
    return min(max(frames, V2_MIN_FRAMES), V2_MAX_FRAMES)
