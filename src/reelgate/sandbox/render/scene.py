"""Build the scene of one request: backdrop canvas(es), sprites, overlays and timeline.

Per mode:

- t2v: a procedural landscape chosen from the prompt, trees in front, a figure in the
  middle (the subject a tracking shot follows) and the prompt as a caption;
- i2v: the first image, mirrored past its edges so the camera can move beyond it;
- fl2v: the first image cross-fading into the last one under a round-trip camera;
- s2v: the subject image in a ring, in a t2v landscape, kept in frame all along;
- l2v (v2): the t2v landscape cross-fading into the last image under a round-trip camera;
- r2v (v2): the t2v scene with the reference images (and frames of the reference videos)
  as cards gliding through it, one after another (cards.py).

Everything random comes from `random.Random(seed)`, the seed being a hash of the request.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

from .camera import CameraTimeline, build_timeline, parse_camera
from .cards import Card, reference_cards
from .framing import DepthProfile, even, required_margin
from .images import cover, decode_image, fit_rgb, pad_reflect
from .landscape import Palette, draw_backdrop, draw_figure, draw_tree, pick_palette
from .request import MODES
from .text import caption_image, label_image
from .yuv import Patch, Planes, rgb_to_planes

SUBJECT_SIZE = 1 / 3  # s2v subject diameter, of the frame height
# The drawn landscape: sky and hills far away, ground coming up to the camera.
LANDSCAPE_DEPTH = DepthProfile(horizon=0.58, far=0.5, near=1.5)
# A photo's layout is unknown; grade it only mildly (top a bit further than bottom) so a
# truck still differs from a pan without visibly shearing the picture.
PHOTO_DEPTH = DepthProfile(horizon=0.0, far=0.85, near=1.15)


@dataclass(frozen=True, slots=True)
class Backdrop:
    """A YUV canvas; the frame at rest is the part starting at (margin_x, margin_y)."""

    planes: Planes
    margin_x: int
    margin_y: int
    depth: DepthProfile | None = None


@dataclass(frozen=True, slots=True)
class Sprite:
    """A picture in front of the backdrop, centred at (home_x, home_y) frame fractions."""

    image: Image.Image
    home_x: float
    home_y: float
    depth: float
    subject: bool = False  # followed by [Tracking shot] and kept inside the frame
    bob: float = 0.0  # walking bounce, of the frame height


@dataclass(frozen=True, slots=True)
class Overlay:
    """A patch fixed on screen (caption, corner mark): the camera does not move it."""

    patch: Patch
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Scene:
    width: int
    height: int
    backdrop: Backdrop
    timeline: CameraTimeline
    fade_to: Backdrop | None = None
    sprites: tuple[Sprite, ...] = ()
    overlays: tuple[Overlay, ...] = ()
    cards: tuple[Card, ...] = ()  # r2v: reference media crossing the frame, under overlays


@dataclass(frozen=True, slots=True)
class SceneInput:
    """What the scene needs from a request (kept separate to avoid an import cycle)."""

    mode: str
    prompt: str
    width: int
    height: int
    duration: int
    frames: int
    seed: int
    label: str
    first_frame: bytes | None
    last_frame: bytes | None
    subject: bytes | None
    references: tuple[bytes, ...] = ()
    reference_videos: tuple[bytes, ...] = ()


def _overlays(spec: SceneInput, caption: bool) -> tuple[Overlay, ...]:
    items: list[Overlay] = []
    gap = even(spec.height / 40)
    mark = label_image(spec.label, spec.height)
    if mark is not None:
        items.append(Overlay(Patch.from_image(mark), gap, gap))
    text = caption_image(spec.prompt, spec.width, spec.height) if caption else None
    if text is not None:
        x = even((spec.width - text.width) / 2)
        y = even(spec.height - text.height - spec.height / 20)
        items.append(Overlay(Patch.from_image(text), x, y))
    return tuple(items)


def _image_backdrop(data: bytes, spec: SceneInput, margin: tuple[int, int], what: str) -> Backdrop:
    rgb = fit_rgb(data, spec.width, spec.height, what)
    return Backdrop(rgb_to_planes(pad_reflect(rgb, *margin)), *margin, PHOTO_DEPTH)


def _landscape(
    spec: SceneInput, palette: Palette, margin: tuple[int, int], rng: random.Random
) -> Backdrop:
    margin_x, margin_y = margin
    horizon = margin_y + int(spec.height * LANDSCAPE_DEPTH.horizon)
    rgb = draw_backdrop(
        spec.width + 2 * margin_x, spec.height + 2 * margin_y, horizon, spec.height, palette, rng
    )
    return Backdrop(rgb_to_planes(rgb), margin_x, margin_y, LANDSCAPE_DEPTH)


def _trees(spec: SceneInput, palette: Palette, rng: random.Random) -> list[Sprite]:
    sprites = []
    for index in range(palette.trees):
        # Spread along the bottom, mostly towards the sides so the middle stays clear.
        side = -1 if index % 2 == 0 else 1
        x = 0.5 + side * rng.uniform(0.28, 0.55) + rng.uniform(-0.05, 0.05) * index
        tree = draw_tree(spec.height, palette, rng)
        y = 0.95 - tree.height / spec.height / 2
        # Slightly in front of the ground its foot stands on.
        sprites.append(Sprite(tree, x, y, LANDSCAPE_DEPTH.at(0.95) + 0.1))
    return sprites


def _ringed_subject(data: bytes, diameter: int) -> Image.Image:
    """The s2v subject cropped to a disc with a white ring (RGBA)."""
    inner = int(diameter * 0.94)
    face = cover(decode_image(data, "subject image"), inner, inner).convert("RGBA")
    # Supersampled mask for a smooth edge.
    mask = Image.new("L", (inner * 4, inner * 4), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, inner * 4 - 1, inner * 4 - 1), fill=255)
    face.putalpha(mask.resize((inner, inner), Image.Resampling.LANCZOS))
    ring = Image.new("RGBA", (diameter * 4, diameter * 4), (0, 0, 0, 0))
    ImageDraw.Draw(ring).ellipse((0, 0, diameter * 4 - 1, diameter * 4 - 1), fill=(255, 255, 255))
    ring = ring.resize((diameter, diameter), Image.Resampling.LANCZOS)
    offset = (diameter - inner) // 2
    ring.alpha_composite(face, (offset, offset))
    return ring


def _centre_cutout(data: bytes, spec: SceneInput) -> Image.Image:
    """For i2v tracking: the middle of the picture with a soft oval edge (RGBA)."""
    rgb = cover(decode_image(data, "first frame"), spec.width, spec.height)
    box_w, box_h = even(spec.width * 0.34), even(spec.height * 0.6)
    left, top = (spec.width - box_w) // 2, (spec.height - box_h) // 2
    cut = rgb.crop((left, top, left + box_w, top + box_h)).convert("RGBA")
    feather = max(2, box_w // 12)
    mask = Image.new("L", (box_w, box_h), 0)
    ImageDraw.Draw(mask).ellipse((feather, feather, box_w - feather, box_h - feather), fill=255)
    cut.putalpha(mask.filter(ImageFilter.GaussianBlur(feather / 2)))
    return cut


def _photo_scene(spec: SceneInput, timeline: CameraTimeline, margin: tuple[int, int]) -> Scene:
    if spec.mode == "l2v":
        # v2's last frame alone: the prompt's landscape turns into the given picture.
        if spec.last_frame is None:
            raise ValueError("l2v needs a last frame image")
        rng = random.Random(spec.seed)
        return Scene(
            spec.width,
            spec.height,
            _landscape(spec, pick_palette(spec.prompt, rng), margin, rng),
            timeline,
            fade_to=_image_backdrop(spec.last_frame, spec, margin, "last frame"),
            overlays=_overlays(spec, caption=False),
        )
    if spec.first_frame is None:
        raise ValueError(f"{spec.mode} needs a first frame image")
    backdrop = _image_backdrop(spec.first_frame, spec, margin, "first frame")
    fade_to = None
    sprites: list[Sprite] = []
    if spec.mode == "fl2v":
        if spec.last_frame is None:
            raise ValueError("fl2v needs a last frame image")
        fade_to = _image_backdrop(spec.last_frame, spec, margin, "last frame")
    elif timeline.uses_tracking:
        cutout = _centre_cutout(spec.first_frame, spec)
        sprites.append(Sprite(cutout, 0.5, 0.5, 1.0, subject=True, bob=0.01))
    return Scene(
        spec.width,
        spec.height,
        backdrop,
        timeline,
        fade_to=fade_to,
        sprites=tuple(sprites),
        overlays=_overlays(spec, caption=False),
    )


def _world_scene(spec: SceneInput, timeline: CameraTimeline, margin: tuple[int, int]) -> Scene:
    rng = random.Random(spec.seed)
    palette = pick_palette(spec.prompt, rng)
    backdrop = _landscape(spec, palette, margin, rng)
    sprites = _trees(spec, palette, rng)
    if spec.mode == "s2v":
        if spec.subject is None:
            raise ValueError("s2v needs a subject image")
        disc = _ringed_subject(spec.subject, even(spec.height * SUBJECT_SIZE))
        depth = LANDSCAPE_DEPTH.at(0.5 + SUBJECT_SIZE / 2)
        sprites.append(Sprite(disc, 0.5, 0.5, depth, subject=True, bob=0.015))
    else:
        figure = draw_figure(spec.height, rng)
        # Standing on the ground: same depth as the ground at its feet, so it does not
        # slide when the camera trucks.
        feet = 0.6 + figure.height / spec.height / 2
        depth = LANDSCAPE_DEPTH.at(feet)
        sprites.append(Sprite(figure, 0.5, 0.6, depth, subject=True, bob=0.02))
    cards: tuple[Card, ...] = ()
    if spec.mode == "r2v":
        cards = reference_cards(spec.references, spec.reference_videos, spec.width, spec.height)
    return Scene(
        spec.width,
        spec.height,
        backdrop,
        timeline,
        sprites=tuple(sprites),
        overlays=_overlays(spec, caption=True),
        cards=cards,
    )


def build_scene(spec: SceneInput) -> Scene:
    """Assemble everything a render needs; the heavy drawing happens once, here."""
    if spec.mode not in MODES:
        raise ValueError(f"unknown mode {spec.mode!r}; expected one of {', '.join(MODES)}")
    # Built on the given frames: the first (i2v, fl2v) or the last (l2v, which starts
    # from the landscape, so its depth is the landscape's).
    framed = spec.mode in ("i2v", "fl2v", "l2v")
    round_trip = spec.mode in ("fl2v", "l2v")  # the clip must end on the last image
    timeline = build_timeline(
        parse_camera(spec.prompt),
        duration=spec.duration,
        seed=spec.seed,
        gentle_default=not round_trip,
        round_trip=round_trip,
    )
    profile = PHOTO_DEPTH if spec.mode in ("i2v", "fl2v") else LANDSCAPE_DEPTH
    margin = required_margin(timeline, spec.width, spec.height, spec.frames, profile)
    if framed:
        return _photo_scene(spec, timeline, margin)
    return _world_scene(spec, timeline, margin)
