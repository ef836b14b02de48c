"""The table of video models and what each allows: one source of truth for the gateway
and the sandbox. Facts from shared/reference/minimax-v1-api.md sections 1.2 and 1.3;
the choices where sources disagree are written down in docs/validation.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Mode(StrEnum):
    """The four kinds of v1 video request; the model and the fields sent pick one."""

    T2V = "t2v"  # text to video
    I2V = "i2v"  # first frame
    FL2V = "fl2v"  # first and last frame
    S2V = "s2v"  # subject reference


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


def _hailuo(grid_i2v: Grid = _HAILUO_GRID) -> dict[Mode, ModeRules]:
    return {
        Mode.T2V: ModeRules(_HAILUO_GRID, "768P"),
        Mode.I2V: ModeRules(grid_i2v, "768P"),
    }


_S2V_RULES = ModeRules({"1080P": (6,)}, "1080P")

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
    )
}

MAX_PROMPT_CHARS = 2000


def models_for(mode: Mode) -> list[str]:
    return [m.name for m in MODELS.values() if mode in m.modes]
