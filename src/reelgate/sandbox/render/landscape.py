"""The procedural t2v/s2v world: sky, hills, ground, trees and a walking figure.

Everything is drawn once per render from a `random.Random` seeded by the request hash,
so the same prompt always gives the same picture.  A few words in the prompt pick the
palette (night, sunset, sea, snow, desert, forest), so the scene visibly follows it.
"""

from __future__ import annotations

import colorsys
import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .yuv import U8

RGB = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Palette:
    """Colours of one scene; `night` adds stars and a moon instead of a sun."""

    sky_top: RGB
    sky_horizon: RGB
    ground_far: RGB
    ground_near: RGB
    hills: RGB
    sun: RGB
    leaves: RGB = (60, 120, 50)
    night: bool = False
    trees: int = 3


_THEMES: dict[str, Palette] = {
    "night": Palette((8, 12, 40), (40, 50, 110), (20, 40, 50), (10, 25, 30), (25, 30, 60),
                     (235, 235, 210), leaves=(20, 50, 40), night=True),
    "sunset": Palette((60, 40, 120), (250, 150, 70), (90, 70, 50), (60, 45, 35),
                      (120, 60, 80), (255, 210, 120), leaves=(70, 80, 40)),
    "sea": Palette((40, 110, 200), (170, 215, 240), (40, 120, 170), (15, 70, 120),
                   (70, 110, 140), (255, 245, 200), trees=1),
    "snow": Palette((110, 150, 200), (220, 230, 240), (225, 230, 240), (245, 248, 252),
                    (160, 175, 200), (255, 250, 230), leaves=(40, 90, 70)),
    "desert": Palette((70, 140, 220), (230, 220, 190), (220, 180, 110), (200, 150, 80),
                      (190, 130, 90), (255, 240, 190), trees=1),
    "forest": Palette((60, 130, 200), (190, 220, 230), (50, 110, 50), (30, 80, 35),
                      (40, 90, 60), (255, 240, 200), leaves=(40, 140, 50), trees=6),
}  # fmt: skip

_KEYWORDS: dict[str, tuple[str, ...]] = {
    "night": ("night", "moon", "star", "midnight", "夜", "月", "星"),
    "sunset": ("sunset", "sunrise", "dusk", "dawn", "evening", "黄昏", "日落", "日出", "傍晚"),
    "sea": ("sea", "ocean", "beach", "lake", "river", "wave", "海", "湖", "河", "浪"),
    "snow": ("snow", "winter", "ice", "雪", "冬", "冰"),
    "desert": ("desert", "sand", "dune", "沙漠", "沙"),
    "forest": ("forest", "tree", "wood", "jungle", "park", "森林", "树", "林"),
}


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return round(r * 255), round(g * 255), round(b * 255)


def pick_palette(prompt: str, rng: random.Random) -> Palette:
    """A themed palette if the prompt names one, else colours derived from the seed."""
    text = prompt.casefold()
    for theme, words in _KEYWORDS.items():
        if any(word in text for word in words):
            return _THEMES[theme]
    hue = rng.random()
    return Palette(
        sky_top=_hsv(hue, 0.55, 0.75),
        sky_horizon=_hsv(hue + 0.05, 0.25, 0.97),
        ground_far=_hsv(hue + 0.35, 0.45, 0.65),
        ground_near=_hsv(hue + 0.38, 0.6, 0.42),
        hills=_hsv(hue + 0.55, 0.35, 0.55),
        sun=_hsv(hue + 0.12, 0.35, 1.0),
        leaves=_hsv(hue + 0.3, 0.6, 0.55),
    )


def _gradient(top: RGB, bottom: RGB, rows: int, width: int) -> U8:
    t = np.linspace(0.0, 1.0, max(rows, 1), dtype=np.float32)[:, None]
    colours = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    return np.broadcast_to(colours[:, None, :].astype(np.uint8), (rows, width, 3))


def _shade(colour: RGB, factor: float) -> RGB:
    r, g, b = (min(255, max(0, round(c * factor))) for c in colour)
    return r, g, b


def draw_backdrop(
    width: int, height: int, horizon: int, unit: int, palette: Palette, rng: random.Random
) -> U8:
    """Draw the far layer (sky, sun, clouds, hills, textured ground) as RGB.

    `unit` is the output frame height, so features keep their size whatever the margin.
    """
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:horizon] = _gradient(palette.sky_top, palette.sky_horizon, horizon, width)
    canvas[horizon:] = _gradient(palette.ground_far, palette.ground_near, height - horizon, width)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    area = width * height / (unit * unit * 16 / 9)  # canvas size in output frames
    if palette.night:
        for _ in range(int(120 * area)):
            x, y = rng.uniform(0, width), rng.uniform(0, horizon)
            r = rng.uniform(0.5, 1.8) * unit / 500
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 230))
    sun_r = unit * rng.uniform(0.06, 0.09)
    sun_x, sun_y = width * rng.uniform(0.25, 0.75), horizon - unit * rng.uniform(0.25, 0.4)
    draw.ellipse((sun_x - sun_r, sun_y - sun_r, sun_x + sun_r, sun_y + sun_r), fill=palette.sun)
    for _ in range(int(7 * area)):
        cx, cy = rng.uniform(0, width), rng.uniform(0, horizon - unit * 0.1)
        cloud = _shade(palette.sky_horizon, rng.uniform(1.02, 1.15))
        for _ in range(4):
            w, h = unit * rng.uniform(0.05, 0.12), unit * rng.uniform(0.025, 0.05)
            ox, oy = rng.uniform(-1.5, 1.5) * w, rng.uniform(-0.5, 0.5) * h
            draw.ellipse((cx + ox - w, cy + oy - h, cx + ox + w, cy + oy + h), fill=cloud)
    # Two ridges of summed sines; the nearer one darker.
    for layer, (amp, shade) in enumerate(((0.16, 1.15), (0.09, 0.85))):
        phases = [rng.uniform(0, 2 * math.pi) for _ in range(3)]
        points = [(0.0, float(horizon))]
        for x in range(0, width + 16, 16):
            wave = sum(
                math.sin(x / (unit * f) + p) / (k + 1)
                for k, (f, p) in enumerate(zip((0.31, 0.13, 0.057), phases, strict=True))
            )
            top = horizon - unit * amp * (0.55 + 0.3 * wave) + layer * unit * 0.02
            points.append((float(x), top))
        points.append((float(width), float(horizon)))
        draw.polygon(points, fill=_shade(palette.hills, shade))
    # Ground: furrows that get wider towards the viewer, plus scattered stones/bushes.
    y, gap = horizon + unit * 0.01, unit * 0.012
    while y < height:
        draw.rectangle((0, y, width, y + gap * 0.3), fill=_shade(palette.ground_far, 0.88))
        y, gap = y + gap, gap * 1.18
    for _ in range(int(60 * area)):
        x, y = rng.uniform(0, width), rng.uniform(horizon + unit * 0.02, height)
        depth = (y - horizon) / unit + 0.1
        r = unit * depth * rng.uniform(0.01, 0.03)
        colour = _shade(palette.ground_near, rng.uniform(0.6, 1.5))
        if rng.random() < 0.5:
            draw.ellipse((x - r * 1.6, y - r, x + r * 1.6, y + r), fill=colour)
        else:
            draw.polygon([(x - r, y + r), (x + r, y + r), (x, y - r * 1.8)], fill=colour)
    return np.asarray(image, dtype=np.uint8)


def draw_tree(unit: int, palette: Palette, rng: random.Random) -> Image.Image:
    """A near-layer tree (RGBA), roughly 0.3-0.45 of the frame height tall."""
    height = int(unit * rng.uniform(0.3, 0.45))
    width = int(height * 0.6)
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    trunk = width * 0.08
    draw.rectangle(
        (width / 2 - trunk, height * 0.55, width / 2 + trunk, height - 1), fill=(90, 60, 40, 255)
    )
    leaf = _shade(palette.leaves, rng.uniform(0.8, 1.2))
    for cx, cy, r in ((0.5, 0.32, 0.3), (0.3, 0.45, 0.2), (0.7, 0.45, 0.2), (0.5, 0.18, 0.2)):
        draw.ellipse(
            (width * (cx - r), height * cy - width * r, width * (cx + r), height * cy + width * r),
            fill=(*leaf, 255),
        )
    return image


def draw_figure(unit: int, rng: random.Random) -> Image.Image:
    """The t2v 'subject': a simple bright character (RGBA) about 0.3 of the height tall."""
    height = int(unit * 0.3)
    width = int(height * 0.5)
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    body = _hsv(rng.random(), 0.75, 0.95)
    head = width * 0.28
    draw.rounded_rectangle(
        (width * 0.12, head * 2.1, width * 0.88, height - 1), radius=width * 0.25, fill=(*body, 255)
    )
    draw.ellipse((width / 2 - head, 0, width / 2 + head, head * 2), fill=(245, 215, 185, 255))
    eye = head * 0.16
    for ex in (width / 2 - head * 0.4, width / 2 + head * 0.4):
        draw.ellipse(
            (ex - eye, head * 0.8 - eye, ex + eye, head * 0.8 + eye), fill=(30, 30, 40, 255)
        )
    return image
