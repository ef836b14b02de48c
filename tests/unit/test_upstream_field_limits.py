"""The bounds on the upstream's extra fields the gateway keeps, at the limit and one past.

The kept fields are stored and served to clients, so each bound is a ceiling: a name of
MAX_NAME_CHARS characters is kept and one longer is not, a 64-bit integer is kept and one
past either end is not, and the fields fill MAX_TOTAL_BYTES exactly, never a byte more.
"""

from __future__ import annotations

import json

from reelgate.domain.bounds import INT64_MAX
from reelgate.domain.upstream_fields import (
    MAX_FIELDS,
    MAX_NAME_CHARS,
    MAX_TOTAL_BYTES,
    MAX_VALUE_CHARS,
    extra_fields,
)

NONE: frozenset[str] = frozenset()


def cost(name: str, value: object) -> int:
    """What one field adds to the kept object: itself and a separator."""
    return len(json.dumps({name: value}, ensure_ascii=False).encode()) - 1


def test_a_name_of_the_longest_length_is_kept_and_one_longer_is_not() -> None:
    at, past = "n" * MAX_NAME_CHARS, "n" * (MAX_NAME_CHARS + 1)
    assert extra_fields({at: 1, past: 2}, NONE) == {at: 1}


def test_integers_are_kept_within_64_bits() -> None:
    fields = {
        "lowest": -INT64_MAX - 1,
        "below": -INT64_MAX - 2,
        "highest": INT64_MAX,
        "above": INT64_MAX + 1,
    }
    assert extra_fields(fields, NONE) == {"lowest": -INT64_MAX - 1, "highest": INT64_MAX}


def test_the_fields_fill_the_byte_budget_exactly() -> None:
    full = {f"f{i}": "x" * MAX_VALUE_CHARS for i in range(3)}
    used = 2 + sum(cost(n, v) for n, v in full.items())  # "{}" and the three fields
    room = MAX_TOTAL_BYTES - used
    fits = "x" * (room - cost("f3", ""))
    assert used + cost("f3", fits) == MAX_TOTAL_BYTES
    assert extra_fields({**full, "f3": fits}, NONE) == {**full, "f3": fits}
    # one byte more does not fit; a later, smaller field still does
    over = fits + "x"
    tail = "y" * len(fits)  # the same name length: exactly the room left
    kept = extra_fields({**full, "f3": over, "f4": tail}, NONE)
    assert kept == {**full, "f4": tail}
    assert extra_fields({**full, "f3": over, "f4": tail + "y"}, NONE) == full


def test_at_most_max_fields_are_kept() -> None:
    fields = {f"f{i}": i for i in range(MAX_FIELDS + 1)}
    assert list(extra_fields(fields, NONE)) == [f"f{i}" for i in range(MAX_FIELDS)]
