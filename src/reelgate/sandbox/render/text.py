"""Text drawn on the video: the prompt caption and the small corner mark.

Fonts are loaded per call, never cached globally: a FreeType face is not safe to share
between threads, and loading the built-in font takes well under a millisecond.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

# A font dropped into reelgate/sandbox/fonts/ (e.g. a CJK one) wins over Pillow's
# built-in Latin font, which draws Chinese as boxes.
_FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"
_FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
_ELLIPSIS = "..."  # the built-in font has no U+2026
_LABEL_MAX_CHARS = 48  # a mark, not a banner


def load_font(size: int) -> Font:
    """Return a font of `size` pixels: a packaged font if present, else Pillow's own."""
    if _FONT_DIR.is_dir():
        for path in sorted(_FONT_DIR.iterdir()):
            if path.suffix.lower() in _FONT_SUFFIXES:
                try:
                    return ImageFont.truetype(str(path), size)
                except OSError:
                    continue
    return ImageFont.load_default(size=size)


def clean_text(text: str) -> str:
    """Collapse whitespace and drop control characters, which fonts draw as boxes."""
    kept = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    return " ".join(kept.split())


def _width(font: Font, text: str) -> float:
    return float(font.getlength(text))


def _split_long(word: str, font: Font, max_width: float) -> list[str]:
    # Chinese has no spaces, so a long run is broken between characters.
    pieces: list[str] = []
    current = ""
    for ch in word:
        if current and _width(font, current + ch) > max_width:
            pieces.append(current)
            current = ch
        else:
            current += ch
    if current:
        pieces.append(current)
    return pieces


def wrap_text(text: str, font: Font, max_width: float, max_lines: int) -> list[str]:
    """Greedy word wrap to `max_width` pixels; the last kept line ends in '...' if cut."""
    lines: list[str] = []
    current = ""
    # Only a few lines are shown, so do not measure a 2,000-character prompt in full.
    budget = int(max_width / max(_width(font, "i"), 1.0)) * (max_lines + 1)
    for word in clean_text(text)[:budget].split(" "):
        for piece in _split_long(word, font, max_width) if word else []:
            candidate = f"{current} {piece}" if current else piece
            if _width(font, candidate) <= max_width:
                current = candidate
            else:
                if current:
                    lines.append(current)
                current = piece
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and _width(font, last + _ELLIPSIS) > max_width:
            last = last[:-1]
        lines = [*lines[: max_lines - 1], last.rstrip() + _ELLIPSIS]
    return lines


def caption_image(text: str, frame_width: int, frame_height: int) -> Image.Image | None:
    """The prompt in a translucent box, sized for the bottom of the frame (None if empty)."""
    size = max(12, frame_height // 24)
    font = load_font(size)
    pad = size // 2
    max_width = frame_width * 0.84 - 2 * pad
    lines = wrap_text(text, font, max_width, max_lines=3)
    if not lines:
        return None
    line_height = int(size * 1.3)
    box_width = int(max(_width(font, line) for line in lines) + 2 * pad)
    box_height = line_height * len(lines) + 2 * pad
    image = Image.new("RGBA", (box_width, box_height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(
        (0, 0, box_width - 1, box_height - 1), radius=pad, fill=(10, 12, 20, 150)
    )
    for row, line in enumerate(lines):
        draw.text((pad, pad + row * line_height), line, font=font, fill=(255, 255, 255, 255))
    return image


def label_image(label: str, frame_height: int) -> Image.Image | None:
    """The small corner mark (e.g. 'reelgate sandbox'), or None for an empty label."""
    text = clean_text(label)[:_LABEL_MAX_CHARS]
    if not text:
        return None
    size = max(10, frame_height // 40)
    font = load_font(size)
    pad = max(3, size // 3)
    width = int(_width(font, text)) + 2 * pad
    height = int(size * 1.25) + 2 * pad
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, width - 1, height - 1), radius=pad, fill=(0, 0, 0, 120))
    draw.text((pad, pad), text, font=font, fill=(255, 255, 255, 220))
    return image
