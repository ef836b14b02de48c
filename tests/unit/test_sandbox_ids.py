"""The sandbox's numeric ids: unique, increasing, and exact as JSON numbers everywhere."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from reelgate.sandbox.state import new_numeric_id


def test_ids_are_unique_increasing_and_below_2_to_the_53() -> None:
    ids = [int(new_numeric_id()) for _ in range(20_000)]  # many within one millisecond
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(10**15 <= i < 2**53 for i in ids)  # 16 digits, as MiniMax-like as can be


def test_ids_made_at_once_on_many_threads_never_collide() -> None:
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: new_numeric_id(), range(8_000)))
    assert len(set(ids)) == len(ids)
