"""The table of video models and what each allows: one source of truth for the gateway
and the sandbox, in the canonical request's terms (modes, resolutions, durations per
resolution, ratios, media). Facts from shared/reference/minimax-v1-api.md sections 1.2
and 1.3 and minimax-v2-api.md sections 3 and 4; the choices where sources disagree are
written down in docs/validation.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Mode(StrEnum):
    """The kinds of video request; the model and the media sent pick one."""

    T2V = "t2v"  # text to video
    I2V = "i2v"  # first frame
    FL2V = "fl2v"  # first and last frame
    S2V = "s2v"  # subject reference (v1)
    LF2V = "lf2v"  # last frame only (v2)
    R2V = "r2v"  # references: images, videos, audio (v2)


class Api(StrEnum):
    """The upstream wire that serves a model: its provider adapter, and the surface a
    client reaches it by with MiniMax's own API."""

    MINIMAX_V1 = "minimax_v1"
    MINIMAX_V2 = "minimax_v2"


# v2's ratios; ``adaptive`` follows the first frame (or the references).
ADAPTIVE = "adaptive"
RATIOS = (ADAPTIVE, "21:9", "16:9", "4:3", "1:1", "3:4", "9:16")


# resolution -> allowed durations (seconds)
Grid = Mapping[str, tuple[int, ...]]

_HAILUO_GRID: Grid = {"768P": (6, 10), "1080P": (6,)}
_HAILUO02_I2V_GRID: Grid = {"512P": (6, 10), "768P": (6, 10), "1080P": (6,)}
_LEGACY_GRID: Grid = {"720P": (6,)}


@dataclass(frozen=True, slots=True)
class ModeRules:
    grid: Grid
    default_resolution: str
    default_duration: int = 6
    # v2: the ratios a client may ask for (none on v1), and the one used when it asks none
    ratios: tuple[str, ...] = ()
    default_ratio: str | None = None

    @property
    def resolutions(self) -> tuple[str, ...]:
        return tuple(self.grid)


@dataclass(frozen=True, slots=True)
class VideoModel:
    name: str
    modes: Mapping[Mode, ModeRules]
    camera_commands: bool = False
    fast_pretreatment: bool = False
    listed: bool = True  # in MiniMax's list of currently available models
    extra: Mapping[str, str] = field(default_factory=dict)
    api: Api = Api.MINIMAX_V1
    max_prompt_chars: int = 2000
    # v2: whether ``extra.prompt_expansion_mode`` is accepted (H3-Max)
    prompt_expansion: bool = False


def _hailuo(grid_i2v: Grid = _HAILUO_GRID) -> dict[Mode, ModeRules]:
    return {
        Mode.T2V: ModeRules(_HAILUO_GRID, "768P"),
        Mode.I2V: ModeRules(grid_i2v, "768P"),
    }


_S2V_RULES = ModeRules({"1080P": (6,)}, "1080P")

V2_MAX_DURATION = 15
_FRAME_MODES = (Mode.I2V, Mode.LF2V, Mode.FL2V)


def _v2_modes(
    resolutions: tuple[str, ...], shortest: int, *, references: bool
) -> dict[Mode, ModeRules]:
    """v2's rules: every resolution takes every duration from ``shortest`` to 15 s; text
    to video needs a ratio other than adaptive (none by default), frames force adaptive,
    references default to it (reference section 3.3). 768P is the default resolution
    (section 12: always sent, and valid for both models)."""
    grid = {r: tuple(range(shortest, V2_MAX_DURATION + 1)) for r in resolutions}
    fixed = ModeRules(grid, "768P", 6, ratios=RATIOS, default_ratio=None)
    framed = ModeRules(grid, "768P", 6, ratios=RATIOS, default_ratio=ADAPTIVE)
    modes = {Mode.T2V: fixed, **dict.fromkeys(_FRAME_MODES, framed)}
    if references:
        modes[Mode.R2V] = framed
    return modes


MODELS: Mapping[str, VideoModel] = {
    m.name: m
    for m in (
        VideoModel("MiniMax-Hailuo-2.3", _hailuo(), camera_commands=True, fast_pretreatment=True),
        VideoModel(
            "MiniMax-Hailuo-2.3-Fast",
            {Mode.I2V: ModeRules(_HAILUO_GRID, "768P")},
            camera_commands=True,
            fast_pretreatment=True,
        ),
        VideoModel(
            "MiniMax-Hailuo-02",
            {**_hailuo(_HAILUO02_I2V_GRID), Mode.FL2V: ModeRules(_HAILUO_GRID, "768P")},
            camera_commands=True,
            fast_pretreatment=True,
        ),
        VideoModel(
            "T2V-01-Director",
            {Mode.T2V: ModeRules(_LEGACY_GRID, "720P")},
            camera_commands=True,
            listed=False,
        ),
        VideoModel("T2V-01", {Mode.T2V: ModeRules(_LEGACY_GRID, "720P")}, listed=False),
        VideoModel(
            "I2V-01-Director",
            {Mode.I2V: ModeRules(_LEGACY_GRID, "720P")},
            camera_commands=True,
            listed=False,
        ),
        VideoModel("I2V-01-live", {Mode.I2V: ModeRules(_LEGACY_GRID, "720P")}, listed=False),
        VideoModel("I2V-01", {Mode.I2V: ModeRules(_LEGACY_GRID, "720P")}, listed=False),
        VideoModel("S2V-01", {Mode.S2V: _S2V_RULES}, listed=False),
        VideoModel(
            "MiniMax-H3",
            _v2_modes(("768P", "2K"), 4, references=True),
            api=Api.MINIMAX_V2,
            max_prompt_chars=7000,
        ),
        # reference mode "coming soon" on api.minimax.io (reference section 12): off here
        VideoModel(
            "MiniMax-H3-Max",
            _v2_modes(("480P", "768P"), 5, references=False),
            api=Api.MINIMAX_V2,
            max_prompt_chars=7000,
            prompt_expansion=True,
        ),
    )
}

MAX_PROMPT_CHARS = 2000  # v1's


def models_for(mode: Mode, api: Api = Api.MINIMAX_V1) -> list[str]:
    return [m.name for m in MODELS.values() if mode in m.modes and m.api is api]


def models_of(api: Api) -> dict[str, VideoModel]:
    """The models one wire serves, in the catalog's order."""
    return {name: m for name, m in MODELS.items() if m.api is api}
