"""Prices per model, resolution and duration, in integer minor units. No floats."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelgate.errors import InvalidParams

DEFAULT_PRICES = Path(__file__).resolve().parent.parent / "prices.toml"


@dataclass(frozen=True, slots=True)
class PriceTable:
    currency: str
    prices: Mapping[tuple[str, str, int], int]

    def price(self, model: str, resolution: str, duration: int) -> int:
        """The price of one task; refuses combinations the operator has not priced."""
        try:
            return self.prices[(model, resolution, duration)]
        except KeyError:
            raise InvalidParams(
                f"invalid params, {model} at {resolution} for {duration} s has no price "
                "configured on this gateway"
            ) from None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> PriceTable:
        prices: dict[tuple[str, str, int], int] = {}
        for model, entries in dict(data.get("models", {})).items():
            for key, amount in dict(entries).items():
                resolution, _, seconds = str(key).partition("-")
                if not seconds.endswith("s") or not seconds[:-1].isdigit():
                    raise ValueError(f"price key {model}.{key} must look like '768P-6s'")
                if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
                    raise ValueError(f"price {model}.{key} must be a whole number >= 0")
                prices[(model, resolution, int(seconds[:-1]))] = amount
        return cls(currency=str(data.get("currency", "USD")), prices=prices)

    @classmethod
    def load(cls, path: Path | None = None) -> PriceTable:
        with (path or DEFAULT_PRICES).open("rb") as f:
            return cls.parse(tomllib.load(f))
