"""OpenAI's ``size`` (``"WxH"``) against the catalog: which sizes each model makes, per
mode, and what each means in the canonical request (a resolution, and on v2 a ratio).

The table (docs/openai.md, "Sizes"):

- a model's **native sizes**: v1 models make 16:9 frames, one per resolution (MiniMax v1
  reference 2.5: 1920x1080, 1366x768, 1280x720; 512P's 912x512 is the sandbox's choice);
  v2 models one frame per resolution and ratio (v2 reference 5.3). With a first frame
  (``input_reference``) the video follows the image's aspect, as MiniMax does: a size then
  picks the resolution only, and its portrait form is accepted too (S2V-01's subject
  image does not set the aspect: its video is 16:9);
- **Sora's sizes** (the SDK's literals), so that code written for Sora runs unchanged:
  ``1280x720`` / ``720x1280`` ask for the model's standard resolution (720P where it has
  it, else 768P) and ``1792x1024`` / ``1024x1792`` for its high one (1080P or 2K, where it
  has one), landscape or portrait.

A size outside the table is refused with the model's list. Pure: the sandbox validates
with the same table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reelgate.domain.catalog import ADAPTIVE, Api, Mode, ModeRules, VideoModel

V1_SIZES: dict[str, tuple[int, int]] = {
    "512P": (912, 512),
    "720P": (1280, 720),
    "768P": (1366, 768),
    "1080P": (1920, 1080),
}
V2_SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "480P": {"16:9": (848, 480), "9:16": (480, 848), "1:1": (480, 480),
             "4:3": (640, 480), "3:4": (480, 640), "21:9": (976, 416)},
    "768P": {"16:9": (1344, 768), "9:16": (768, 1344), "1:1": (768, 768),
             "4:3": (1024, 768), "3:4": (768, 1024), "21:9": (1536, 672)},
    "2K": {"16:9": (2560, 1440), "9:16": (1440, 2560), "1:1": (2048, 2048),
           "4:3": (2048, 1536), "3:4": (1536, 2048), "21:9": (2560, 1080)},
}  # fmt: skip

# Sora's sizes: (which of the model's resolutions, which ratio)
STANDARD, HIGH = "standard", "high"
SORA_SIZES: dict[str, tuple[str, str]] = {
    "1280x720": (STANDARD, "16:9"),
    "720x1280": (STANDARD, "9:16"),
    "1792x1024": (HIGH, "16:9"),
    "1024x1792": (HIGH, "9:16"),
}
_STANDARD_ORDER = ("720P", "768P")  # the resolution nearest Sora's 720p, first found
_HIGH_ORDER = ("2K", "1080P")
LANDSCAPE = "16:9"
_SIZE = re.compile(r"^([1-9][0-9]{1,4})x([1-9][0-9]{1,4})$")


@dataclass(frozen=True, slots=True)
class SizeChoice:
    """What a size asks for: a resolution, and the ratio on v2 (None on v1, whose frame
    is 16:9 or follows the image; ``adaptive`` on v2 with an image)."""

    resolution: str
    ratio: str | None


def is_size(value: str) -> bool:
    return _SIZE.match(value) is not None


def _size(width: int, height: int) -> str:
    return f"{width}x{height}"


def _sora_resolution(rules: ModeRules, tier: str) -> str | None:
    order = _STANDARD_ORDER if tier == STANDARD else _HIGH_ORDER
    return next((r for r in order if r in rules.grid), None)


def allowed_sizes(model: VideoModel, mode: Mode) -> dict[str, SizeChoice]:
    """Every size the model makes in this mode, native sizes first, then Sora's."""
    rules = model.modes[mode]
    framed = mode not in (Mode.T2V, Mode.S2V)  # a frame sets the aspect; a subject does not
    out: dict[str, SizeChoice] = {}
    for resolution in rules.resolutions:
        if model.api is Api.MINIMAX_V2:
            for ratio, (w, h) in V2_SIZES[resolution].items():
                out[_size(w, h)] = SizeChoice(resolution, ADAPTIVE if framed else ratio)
            continue
        w, h = V1_SIZES[resolution]
        out[_size(w, h)] = SizeChoice(resolution, None)
        if framed:
            out[_size(h, w)] = SizeChoice(resolution, None)
    for size, (tier, ratio) in SORA_SIZES.items():
        sora = _sora_resolution(rules, tier)
        if sora is None or size in out:
            continue
        if model.api is Api.MINIMAX_V2:
            out[size] = SizeChoice(sora, ADAPTIVE if framed else ratio)
        elif framed or ratio == LANDSCAPE:  # a v1 text-to-video frame is landscape
            out[size] = SizeChoice(sora, None)
    return out


def default_choice(model: VideoModel, mode: Mode) -> SizeChoice:
    """No size sent: the mode's default resolution, landscape (or the image's aspect)."""
    rules = model.modes[mode]
    if model.api is Api.MINIMAX_V2:
        return SizeChoice(rules.default_resolution, LANDSCAPE if mode is Mode.T2V else ADAPTIVE)
    return SizeChoice(rules.default_resolution, None)


def planned_size(api: Api, resolution: str, ratio: str | None) -> str:
    """The frame a task will have, as far as its request says: the resolution's 16:9 frame
    where the ratio is not known yet (adaptive, or a v1 image's aspect)."""
    if api is Api.MINIMAX_V2:
        frames = V2_SIZES.get(resolution, {})
        w, h = frames.get(ratio or LANDSCAPE) or frames.get(LANDSCAPE) or (0, 0)
    else:
        w, h = V1_SIZES.get(resolution, (0, 0))
    return _size(w, h) if w else ""
