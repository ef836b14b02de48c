"""Limits and parsers of the domain at their edges: storable text and times, inline
image sizes, the upstream's status words, the price table and the poll schedule."""

from __future__ import annotations

import base64
import random
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from reelgate.domain.bounds import storable_text, to_utc
from reelgate.domain.images import MAX_IMAGE_BYTES, decode_data_url, probe_image
from reelgate.domain.polling import PollSchedule, paced_interval
from reelgate.domain.pricing import PriceTable
from reelgate.domain.tasks import UpstreamStatus
from reelgate.errors import InvalidParams


def test_storable_text() -> None:
    assert storable_text("a\u00e9\u732b") == "a\u00e9\u732b"
    with pytest.raises(ValueError, match=r"^must not contain a NUL character \(U\+0000\)$"):
        storable_text("a\x00b")
    with pytest.raises(ValueError, match=r"^must be valid unicode text \(no lone surrogates\)$"):
        storable_text("a\ud800")


def test_times_are_made_utc() -> None:
    naive = datetime(2030, 1, 1, 12, 0)
    assert to_utc(naive) == datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert to_utc(naive).tzinfo is UTC
    plus_two = datetime(2030, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert to_utc(plus_two) == datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert to_utc(plus_two).tzinfo is UTC and to_utc(plus_two).hour == 12
    early = datetime(1, 1, 1, 0, 1, tzinfo=timezone(timedelta(hours=4)))
    with pytest.raises(ValueError, match=r"^0001-01-01T00:01:00\+04:00 is outside years 1 to"):
        to_utc(early)


def test_an_inline_image_of_20_mb_is_the_limit() -> None:
    limit = MAX_IMAGE_BYTES * 4 // 3 + 4
    padded = "data:image/png;base64," + "A" * limit
    with pytest.raises(InvalidParams, match="is not valid base64"):  # size passes, then decoded
        decode_data_url(padded, "first_frame_image")
    with pytest.raises(InvalidParams, match=r"^invalid params, frame is larger than 20"):
        decode_data_url(padded + "A", "frame")
    with pytest.raises(InvalidParams, match=r"^invalid params, f is larger than 20 MB$"):
        probe_image(b"\x00" * (MAX_IMAGE_BYTES + 1), "f")
    with pytest.raises(InvalidParams, match=r"^invalid params, f is not a decodable image$"):
        probe_image(b"\x00" * MAX_IMAGE_BYTES, "f")


def test_a_data_url_must_be_strict_base64() -> None:
    good = base64.b64encode(b"abc").decode()
    assert decode_data_url(f"data:image/png;base64,{good}", "f") == b"abc"
    with pytest.raises(InvalidParams, match=r"^invalid params, f is not valid base64$"):
        decode_data_url(f"data:image/png;base64,{good[:2]}!{good[2:]}", "f")
    with pytest.raises(InvalidParams) as info:
        decode_data_url("data:text/plain;base64,YQ==", "f")
    assert info.value.message == (
        "invalid params, f must be a public URL or a data URL "
        "'data:image/<jpeg|png|webp>;base64,...'"
    )


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("succeeded", UpstreamStatus.SUCCESS),
        ("Succeeded", UpstreamStatus.SUCCESS),
        ("queued", UpstreamStatus.QUEUEING),
        ("failed", UpstreamStatus.FAIL),
        (" processing ", UpstreamStatus.PROCESSING),
        ("done", None),
    ],
)
def test_the_upstreams_status_words(text: str, status: UpstreamStatus | None) -> None:
    assert UpstreamStatus.parse(text) is status


def test_the_price_table() -> None:
    table = PriceTable.parse(
        {"currency": "EUR", "models": {"T2V-01": {"720P-6s": 30, "720P-10s": 0}}}
    )
    assert table.currency == "EUR"
    assert dict(table.prices) == {("T2V-01", "720P", 6): 30, ("T2V-01", "720P", 10): 0}
    assert table.price("T2V-01", "720P", 10) == 0
    assert PriceTable.parse({}).currency == "USD" and dict(PriceTable.parse({}).prices) == {}
    with pytest.raises(InvalidParams) as info:
        table.price("T2V-01", "1080P", 6)
    assert info.value.message == (
        "invalid params, T2V-01 at 1080P for 6 s has no price configured on this gateway"
    )


@pytest.mark.parametrize("key", ["720P-6", "720P-s", "720P", "720P-6m", "720P-x6s", "768-P-6s"])
def test_a_price_key_must_read_resolution_dash_seconds(key: str) -> None:
    forms = "'768P-6s' (per task), '768P-per-s' (per second), 'images-free' or 'image'"
    with pytest.raises(
        ValueError, match=rf"^price key M\.{key} must look like {re.escape(forms)}$"
    ):
        PriceTable.parse({"models": {"M": {key: 1}}})


@pytest.mark.parametrize("amount", [-1, 1.5, "3", True])
def test_a_price_must_be_a_whole_number(amount: object) -> None:
    with pytest.raises(ValueError, match=r"^price M\.720P-6s must be a whole number >= 0$"):
        PriceTable.parse({"models": {"M": {"720P-6s": amount}}})


def test_the_poll_schedule_at_its_edges() -> None:
    exact = PollSchedule(initial=2, maximum=30, factor=2, jitter=0)
    assert [exact.delay(n) for n in (0, 1, 2, 3, 4, 5)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert exact.delay(0, at_least=5) == 5.0 and exact.delay(0, at_least=60) == 30.0
    tiny = PollSchedule(initial=0.001, maximum=30, jitter=0.1)
    assert tiny.delay(0, random.Random(1)) == 0.05  # never a busy loop
    jittered = PollSchedule(initial=10, maximum=30, factor=1, jitter=0.1)
    delays = [jittered.delay(0, random.Random(seed)) for seed in range(300)]
    assert 9.0 <= min(delays) < 9.1 and 10.9 < max(delays) <= 11.0
    capped = PollSchedule(initial=30, maximum=30, jitter=0.1)
    at_cap = [capped.delay(5, random.Random(seed)) for seed in range(300)]
    assert 27.0 <= min(at_cap) < 27.2 and 29.9 < max(at_cap) < 30.0  # reflected below the cap
    assert PollSchedule(jitter=0.1).delay(0, random.Random(1), at_least=0) > 0.05


def test_paced_interval_without_a_budget_never_polls() -> None:
    assert paced_interval(10, 0) == float("inf") and paced_interval(10, -1) == float("inf")
    assert paced_interval(10, 1) == 600.0
    assert paced_interval(-5, 60) == 0.0
