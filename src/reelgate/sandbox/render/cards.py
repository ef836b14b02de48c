"""Reference media as cards gliding through a v2 reference (r2v) clip.

Each reference image becomes a framed card, and each reference video three cards (frames
decoded at 0, 1/3 and 2/3 of its length, labelled "video N"); a video that cannot be
decoded gets one grey card saying so.  The clip is split evenly between the cards, in
request order: during its share a card glides from just beyond the right edge to just
beyond the left, so halfway through its share it sits whole in the middle of the frame.
Cards are screen-space overlays (the camera does not move them), drawn under the caption.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
from PIL import Image, ImageDraw

from .framing import even
from .images import decode_image
from .text import load_font
from .yuv import Patch

CARD_SIZE = 0.42  # the card's picture fits in this fraction of the frame's height and width
CARD_Y = 0.40  # card centre, fraction of the frame height: above the caption
_BORDER = 0.035  # white frame, of the card's height
_VIDEO_FRAMES = (0.0, 1 / 3, 2 / 3)  # where in a reference video its cards come from


@dataclass(frozen=True, slots=True)
class Card:
    """A patch that crosses the frame right to left while `start <= u <= end`."""

    patch: Patch
    start: float
    end: float

    def place(self, u: float, width: int, height: int) -> tuple[int, int] | None:
        """Top-left corner of the card at clip time `u` (0..1), or None when off screen."""
        if not self.start <= u <= self.end or self.end <= self.start:
            return None
        progress = (u - self.start) / (self.end - self.start)
        travel = width + self.patch.width
        centre_x = width + self.patch.width / 2 - progress * travel
        return round(centre_x - self.patch.width / 2), round(
            height * CARD_Y - self.patch.height / 2
        )


def _framed(picture: Image.Image, label: str, width: int, height: int) -> Image.Image:
    box = max(8, round(min(width, height) * CARD_SIZE))
    picture = picture.copy()
    picture.thumbnail((box, box), Image.Resampling.LANCZOS)
    border = max(2, round(picture.height * _BORDER))
    strip = 0
    font = None
    if label:
        font = load_font(max(10, height // 40))
        strip = max(12, height // 40) + border
    size = (even(picture.width + 2 * border), even(picture.height + 2 * border + strip))
    card = Image.new("RGBA", size, (250, 250, 246, 255))
    card.paste(picture, (border, border))
    if font is not None:
        ImageDraw.Draw(card).text(
            (border, border + picture.height + border // 2), label, font=font, fill=(30, 30, 30)
        )
    return card


def _placeholder(label: str, width: int, height: int) -> Image.Image:
    side = max(8, round(min(width, height) * CARD_SIZE))
    grey = Image.new("RGB", (side * 4 // 3, side), (90, 90, 100))
    return _framed(grey, label, width, height)


def video_stills(data: bytes, where: tuple[float, ...] = _VIDEO_FRAMES) -> list[Image.Image]:
    """Frames of an encoded video at fractions `where` of its length ([] if unreadable).

    Seeks to each point and decodes from the keyframe before it, so only a few frames are
    decoded however long the clip."""
    stills: list[Image.Image] = []
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            seconds = float(container.duration or 0) / av.time_base
            for fraction in where:
                target = fraction * seconds
                container.seek(int(target * av.time_base), backward=True)
                for frame in container.decode(stream):
                    if frame.time is None or frame.time >= target - 0.5 / 24:
                        stills.append(Image.fromarray(frame.to_ndarray(format="rgb24")))
                        break
    except (av.FFmpegError, ValueError, IndexError, OSError):
        return []
    return stills


def reference_cards(
    images: tuple[bytes, ...], videos: tuple[bytes, ...], width: int, height: int
) -> tuple[Card, ...]:
    """The cards of an r2v clip, each with its share of the clip (see the module doc)."""
    pictures: list[Image.Image] = []
    for number, data in enumerate(images, start=1):
        pictures.append(_framed(decode_image(data, f"reference image {number}"), "", width, height))
    for number, data in enumerate(videos, start=1):
        stills = video_stills(data)
        if not stills:
            pictures.append(_placeholder(f"reference video {number}", width, height))
        for still in stills:
            pictures.append(_framed(still.convert("RGB"), f"video {number}", width, height))
    count = len(pictures)
    return tuple(
        Card(Patch.from_image(picture), index / count, (index + 1) / count)
        for index, picture in enumerate(pictures)
    )
