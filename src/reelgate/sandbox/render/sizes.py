"""Output frame rate and frame sizes for the sandbox renderer."""

from __future__ import annotations

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
