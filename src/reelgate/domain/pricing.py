"""Prices in integer minor units, from ``prices.toml``. No floats.

Two forms, one per model:

- **per task** (MiniMax v1's models): a price per resolution and duration, ``"768P-6s"``;
- **per second** (MiniMax v2's MiniMax-H3 and H3-Max, billed by the second): a rate per
  second of output at each resolution (``"768P-per-s"``), which reference-video seconds
  pay too, plus input images past a free count (``images-free``, ``image``).

A task reserves its :meth:`PriceTable.quote` at create; a per-second task settles at
what the upstream billed when it succeeds (:meth:`PriceTable.settle`), never above the
reservation. docs/billing.md tells the whole story.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reelgate.domain.clips import MAX_TOTAL_S
from reelgate.domain.tasks import Usage
from reelgate.domain.video import Media, MediaKind, VideoRequest
from reelgate.errors import InvalidParams

DEFAULT_PRICES = Path(__file__).resolve().parent.parent / "prices.toml"

PER_SECOND = "per-s"  # "<resolution>-per-s": the rate of one second at that resolution
IMAGES_FREE = "images-free"  # input images a per-second task includes
IMAGE = "image"  # each input image past those
_KEY_FORMS = "'768P-6s' (per task), '768P-per-s' (per second), 'images-free' or 'image'"
# A clip given by URL has no known length at create: reserve the most v2 allows for all
# reference clips of a task together (reference 3.4, "total <= 15 s"); settle corrects it.
UNKNOWN_CLIPS_S = math.ceil(MAX_TOTAL_S)


@dataclass(frozen=True, slots=True)
class PerSecond:
    """How a per-second model is billed: ``rates`` (resolution -> minor units per second
    of output, and of reference video), ``images_free`` input images included (first and
    last frames count), ``image`` for each one past them. Reference audio is free."""

    rates: Mapping[str, int]
    images_free: int = 0
    image: int = 0

    def images(self, count: int) -> int:
        """What ``count`` input images cost."""
        return max(count - self.images_free, 0) * self.image


@dataclass(frozen=True, slots=True)
class PriceTable:
    currency: str
    prices: Mapping[tuple[str, str, int], int]  # per task: (model, resolution, seconds)
    per_second: Mapping[str, PerSecond] = field(default_factory=dict)  # model -> its rule

    def price(self, model: str, resolution: str, duration: int) -> int:
        """The price of the output alone (a per-second model: rate x duration, before
        images and reference video); refuses combinations the operator has not priced."""
        fixed = self.prices.get((model, resolution, duration))
        if fixed is not None:
            return fixed
        rule = self.per_second.get(model)
        if rule is not None and resolution in rule.rates:
            return rule.rates[resolution] * duration
        raise InvalidParams(
            f"invalid params, {model} at {resolution} for {duration} s has no price "
            "configured on this gateway"
        )

    def quote(self, request: VideoRequest) -> int:
        """What a task reserves at create: the whole price of a per-task model; for a
        per-second one the output's seconds, the reference video's seconds (rounded up;
        a clip by URL: ``UNKNOWN_CLIPS_S``) at the same rate, and the images past the
        free ones. Reference audio is free."""
        output = self.price(request.model, request.resolution, request.duration)
        rule = self.per_second.get(request.model)
        if rule is None:
            return output
        rate = rule.rates[request.resolution]
        images = sum(1 for m in request.media if m.kind is MediaKind.IMAGE)
        return output + rate * reference_video_seconds(request.media) + rule.images(images)

    def settle(self, model: str, resolution: str, usage: Usage | None, reserved: int) -> int:
        """What a task that succeeded is finally charged: for a per-second model, what
        the upstream billed (``usage``) at this table's rates, never more than
        ``reserved``; otherwise, and without a usage that counts output, the reservation."""
        rule = self.per_second.get(model)
        if rule is None or usage is None or usage.output_seconds <= 0:
            return reserved
        rate = rule.rates.get(resolution)
        if rate is None:  # the table lost the resolution since the create: keep it
            return reserved
        seconds = usage.output_seconds + max(usage.input_seconds, 0)
        billed = rate * seconds + rule.images(usage.input_image_count)
        return min(billed, reserved)

    def entries(self) -> dict[str, dict[str, int]]:
        """The table as ``prices.toml`` spells it: model -> key -> amount, sorted."""
        out: dict[str, dict[str, int]] = {}
        for (model, resolution, seconds), amount in sorted(self.prices.items()):
            out.setdefault(model, {})[f"{resolution}-{seconds}s"] = amount
        for model, rule in self.per_second.items():
            keys = {f"{r}-{PER_SECOND}": rate for r, rate in sorted(rule.rates.items())}
            out[model] = {**keys, IMAGES_FREE: rule.images_free, IMAGE: rule.image}
        return dict(sorted(out.items()))

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> PriceTable:
        """Strictly: a key or an amount that is not understood is refused by name."""
        prices: dict[tuple[str, str, int], int] = {}
        per_second: dict[str, PerSecond] = {}
        for model, entries in dict(data.get("models", {})).items():
            if not isinstance(entries, Mapping):
                raise ValueError(f"prices of {model} must be a table of keys and amounts")
            fixed, rule = _model_prices(str(model), entries.items())
            prices.update({(model, res, seconds): a for (res, seconds), a in fixed.items()})
            if rule is not None:
                per_second[model] = rule
        return cls(str(data.get("currency", "USD")), prices, per_second)

    @classmethod
    def load(cls, path: Path | None = None) -> PriceTable:
        with (path or DEFAULT_PRICES).open("rb") as f:
            return cls.parse(tomllib.load(f))


def reference_video_seconds(media: Iterable[Media]) -> int:
    """The reference video's seconds a task reserves: each inline clip rounded up (an
    upper bound however the upstream rounds), or the most v2 allows if one is a URL."""
    clips = [m.seconds for m in media if m.kind is MediaKind.VIDEO]
    if any(seconds is None for seconds in clips):
        return UNKNOWN_CLIPS_S
    return sum(math.ceil(seconds) for seconds in clips if seconds is not None)


def _model_prices(
    model: str, entries: Iterable[tuple[Any, Any]]
) -> tuple[dict[tuple[str, int], int], PerSecond | None]:
    """One model's table: its per-task prices, or its per-second rule; never both."""
    fixed: dict[tuple[str, int], int] = {}
    rates: dict[str, int] = {}
    extras: dict[str, int] = {}
    for raw, value in entries:
        key = str(raw)
        resolution, _, rest = key.partition("-")
        if key in (IMAGES_FREE, IMAGE):
            extras[key] = _amount(model, key, value)
        elif resolution and rest == PER_SECOND:
            rates[resolution] = _amount(model, key, value)
        elif resolution and rest.endswith("s") and rest[:-1].isdigit():
            fixed[(resolution, int(rest[:-1]))] = _amount(model, key, value)
        else:
            raise ValueError(f"price key {model}.{key} must look like {_KEY_FORMS}")
    if fixed and (rates or extras):
        raise ValueError(
            f"prices of {model} mix per-task keys ('768P-6s') with per-second ones "
            "('768P-per-s', 'images-free', 'image'): a model is priced one way"
        )
    if extras and not rates:
        raise ValueError(
            f"prices of {model}: 'images-free' and 'image' belong to a per-second model, "
            "which needs at least one '<resolution>-per-s' rate"
        )
    if not rates:
        return fixed, None
    return fixed, PerSecond(rates, extras.get(IMAGES_FREE, 0), extras.get(IMAGE, 0))


def _amount(model: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"price {model}.{key} must be a whole number >= 0")
    return value
