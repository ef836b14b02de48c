"""The playground's view of the model catalog: the one place the console reads
``reelgate.domain.catalog``, so that the form offers exactly what the catalog allows (a
ratio, or more reference images, appear here when a model's rules gain them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from reelgate.domain.catalog import Api, Mode, models_of
from reelgate.domain.pricing import PriceTable
from reelgate.errors import InvalidParams

MODE_LABELS = {
    Mode.T2V: "Text to video",
    Mode.I2V: "First frame to video",
    Mode.FL2V: "First and last frame",
    Mode.S2V: "Subject reference",
}
# the image inputs each mode takes, by the form field's name
MODE_IMAGES: Mapping[Mode, tuple[str, ...]] = {
    Mode.T2V: (),
    Mode.I2V: ("first_frame",),
    Mode.FL2V: ("first_frame", "last_frame"),
    Mode.S2V: ("subject",),
}
IMAGE_LABELS = {
    "first_frame": "First frame image",
    "last_frame": "Last frame image",
    "subject": "Subject reference image (a face)",
}


@dataclass(frozen=True, slots=True)
class ModeOption:
    mode: str
    label: str
    grid: Mapping[str, tuple[int, ...]]  # resolution -> durations
    default_resolution: str
    default_duration: int
    ratios: tuple[str, ...]  # empty where the model takes none (v1)
    images: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModelOption:
    name: str
    listed: bool  # MiniMax still offers it
    modes: Mapping[str, ModeOption]


def model_options() -> list[ModelOption]:
    """Every model of the catalog with its modes, listed models first. Only the models
    MiniMax's v1 wire serves, for now: the playground submits through v1's parser
    (``console/playground.py``); MiniMax-H3 joins it with the v2 surface."""
    out = []
    for model in models_of(Api.MINIMAX_V1).values():
        modes = {}
        for mode, rules in model.modes.items():
            modes[mode.value] = ModeOption(
                mode=mode.value,
                label=MODE_LABELS.get(mode, mode.value),
                grid=dict(rules.grid),
                default_resolution=rules.default_resolution,
                default_duration=rules.default_duration,
                ratios=tuple(getattr(rules, "ratios", ()) or ()),
                images=MODE_IMAGES.get(mode, ()),
            )
        out.append(ModelOption(model.name, model.listed, modes))
    return sorted(out, key=lambda m: not m.listed)  # stable: catalog order within each


@dataclass(frozen=True, slots=True)
class Selection:
    """What the form shows as chosen: always a valid combination of the catalog."""

    model: ModelOption
    mode: ModeOption
    resolution: str
    duration: int
    ratio: str | None

    @property
    def durations(self) -> tuple[int, ...]:
        return self.mode.grid[self.resolution]


def select(
    model: str | None = None,
    mode: str | None = None,
    resolution: str | None = None,
    duration: str | int | None = None,
    ratio: str | None = None,
) -> Selection:
    """The nearest valid choice to what was asked: each field that the one before it does
    not allow falls back to that one's default."""
    options = model_options()
    chosen = next((m for m in options if m.name == model), options[0])
    mode_opt = chosen.modes.get(mode or "") or next(iter(chosen.modes.values()))
    res = mode_opt.default_resolution
    if resolution is not None and resolution in mode_opt.grid:
        res = resolution
    allowed = mode_opt.grid[res]
    try:
        seconds = int(duration) if duration is not None else None
    except ValueError:
        seconds = None
    if seconds not in allowed:
        seconds = mode_opt.default_duration if mode_opt.default_duration in allowed else allowed[0]
    assert seconds is not None
    picked_ratio = ratio if ratio in mode_opt.ratios else (mode_opt.ratios or (None,))[0]
    return Selection(chosen, mode_opt, res, seconds, picked_ratio)


@lru_cache(maxsize=4)
def price_table(path: Path | None) -> PriceTable:
    return PriceTable.load(path)


def price_of(table: PriceTable, selection: Selection) -> int | None:
    """What the task will cost (reserved at create; a model billed by the second: its
    output's seconds, before extra images, settled at what was billed); None: not priced
    on this gateway, so the gateway will refuse it."""
    try:
        return table.price(selection.model.name, selection.resolution, selection.duration)
    except InvalidParams:
        return None
