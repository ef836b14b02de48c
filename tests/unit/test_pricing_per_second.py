"""Billing by the second (MiniMax v2): the price table's per-second form, what a task
reserves at create (``quote``) at each boundary of the reference's price list (section
11), and what it settles at when it succeeds (``settle``), never above the reservation;
with the lifecycle's ``settle`` that gives the rest back."""

from __future__ import annotations

import re
from typing import Any

import pytest

from reelgate.domain import lifecycle
from reelgate.domain.catalog import Mode
from reelgate.domain.lifecycle import Money, Step
from reelgate.domain.pricing import UNKNOWN_CLIPS_S, PerSecond, PriceTable
from reelgate.domain.tasks import TaskStatus, Usage
from reelgate.domain.video import Media, MediaKind, Role, VideoRequest
from reelgate.errors import InvalidParams

TABLE = PriceTable.load()  # the shipped defaults (tests of the parse load their own)
H3, MAX = "MiniMax-H3", "MiniMax-H3-Max"
FORMS = "'768P-6s' (per task), '768P-per-s' (per second), 'images-free' or 'image'"


def image(role: Role = Role.REFERENCE) -> Media:
    return Media(MediaKind.IMAGE, role, "https://example.com/a.png")


def video(seconds: float | None) -> Media:
    return Media(MediaKind.VIDEO, Role.REFERENCE, "https://example.com/v.mp4", seconds=seconds)


def audio(seconds: float | None) -> Media:
    return Media(MediaKind.AUDIO, Role.REFERENCE, "https://example.com/a.mp3", seconds=seconds)


def request(
    model: str = H3, resolution: str = "768P", duration: int = 6, *media: Media
) -> VideoRequest:
    mode = Mode.R2V if media else Mode.T2V
    return VideoRequest(model, mode, "a kite", duration, resolution, "16:9", tuple(media))


# -- the table ------------------------------------------------------------------------


def test_the_shipped_per_second_prices_are_the_reference_list_prices() -> None:
    table = PriceTable.load()
    assert table.per_second == {
        H3: PerSecond({"768P": 8, "2K": 13}, images_free=5, image=4),
        # $0.074 an image, rounded up to the cent
        MAX: PerSecond({"480P": 5, "768P": 8}, images_free=2, image=8),
    }
    assert not [key for key in table.prices if key[0] in (H3, MAX)]
    assert table.prices[("T2V-01", "720P", 6)] == 43  # the per-task models are kept


def test_a_per_second_model_parses_and_shows_as_written() -> None:
    written = {"768P-per-s": 8, "2K-per-s": 0, "images-free": 3, "image": 4}
    table = PriceTable.parse({"models": {"M": written, "T": {"720P-6s": 1}}})
    assert table.per_second == {"M": PerSecond({"768P": 8, "2K": 0}, 3, 4)}
    assert dict(table.prices) == {("T", "720P", 6): 1}
    assert table.entries() == {"M": written, "T": {"720P-6s": 1}}
    assert PriceTable.parse({"models": table.entries()}) == table
    # images-free and image may be left out: no image is charged
    bare = PriceTable.parse({"models": {"M": {"768P-per-s": 8}}})
    assert bare.per_second["M"] == PerSecond({"768P": 8}, 0, 0)
    assert bare.entries() == {"M": {"768P-per-s": 8, "images-free": 0, "image": 0}}


def test_the_admin_view_of_the_shipped_table() -> None:
    shown = PriceTable.load().entries()
    assert shown[H3] == {"2K-per-s": 13, "768P-per-s": 8, "images-free": 5, "image": 4}
    assert shown[MAX] == {"480P-per-s": 5, "768P-per-s": 8, "images-free": 2, "image": 8}
    assert shown["T2V-01"] == {"720P-6s": 43}
    assert list(shown) == sorted(shown)


@pytest.mark.parametrize(
    "key",
    ["768P-per-", "768P-per-sec", "768P-pers", "-per-s", "768P-per-S", "images_free", "Image",
     "images", "per-s", "-6s", "768P-6xs", "768P-1.5s"],
)  # fmt: skip
def test_a_bad_per_second_key_is_refused_by_name(key: str) -> None:
    with pytest.raises(ValueError, match=rf"^price key M\.{re.escape(key)} must look like "):
        PriceTable.parse({"models": {"M": {"768P-per-s": 8, key: 1}}})
    with pytest.raises(ValueError) as info:
        PriceTable.parse({"models": {"M": {key: 1}}})
    assert str(info.value) == f"price key M.{key} must look like {FORMS}"


@pytest.mark.parametrize("key", ["768P-per-s", "images-free", "image"])
@pytest.mark.parametrize("amount", [-1, 1.5, "3", True, None])
def test_a_per_second_amount_must_be_a_whole_number(key: str, amount: Any) -> None:
    with pytest.raises(ValueError, match=rf"^price M\.{key} must be a whole number >= 0$"):
        PriceTable.parse({"models": {"M": {"2K-per-s": 1, key: amount}}})


@pytest.mark.parametrize("extra", ["768P-per-s", "images-free", "image"])
def test_a_model_is_priced_one_way(extra: str) -> None:
    with pytest.raises(ValueError) as info:
        PriceTable.parse({"models": {"M": {"768P-6s": 28, extra: 1}}})
    assert str(info.value) == (
        "prices of M mix per-task keys ('768P-6s') with per-second ones "
        "('768P-per-s', 'images-free', 'image'): a model is priced one way"
    )


@pytest.mark.parametrize("extras", [{"image": 4}, {"images-free": 5}])
def test_image_prices_need_rates(extras: dict[str, int]) -> None:
    with pytest.raises(ValueError) as info:
        PriceTable.parse({"models": {"M": extras}})
    assert str(info.value) == (
        "prices of M: 'images-free' and 'image' belong to a per-second model, "
        "which needs at least one '<resolution>-per-s' rate"
    )


def test_a_model_entry_must_be_a_table() -> None:
    with pytest.raises(ValueError, match=r"^prices of M must be a table of keys and amounts$"):
        PriceTable.parse({"models": {"M": 8}})


# -- the price at create --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "resolution", "duration", "price"),
    [(H3, "768P", 4, 32), (H3, "768P", 15, 120), (H3, "2K", 4, 52), (H3, "2K", 15, 195),
     (MAX, "480P", 5, 25), (MAX, "768P", 15, 120)],
)  # fmt: skip
def test_the_output_costs_its_seconds(
    model: str, resolution: str, duration: int, price: int
) -> None:
    assert TABLE.price(model, resolution, duration) == price
    assert TABLE.quote(request(model, resolution, duration)) == price


def test_a_resolution_without_a_rate_has_no_price() -> None:
    for call in (lambda: TABLE.price(H3, "480P", 6), lambda: TABLE.quote(request(H3, "480P"))):
        with pytest.raises(InvalidParams) as info:
            call()
        assert info.value.message == (
            "invalid params, MiniMax-H3 at 480P for 6 s has no price configured on this gateway"
        )


@pytest.mark.parametrize(
    ("model", "images", "extra"),
    [(H3, 0, 0), (H3, 5, 0), (H3, 6, 4), (H3, 9, 16),
     (MAX, 2, 0), (MAX, 3, 8), (MAX, 4, 16)],
)  # fmt: skip
def test_images_past_the_free_ones_are_charged(model: str, images: int, extra: int) -> None:
    base = TABLE.price(model, "768P", 6)
    media = [image() for _ in range(images)]
    assert TABLE.quote(request(model, "768P", 6, *media)) == base + extra


def test_frames_count_as_images() -> None:
    frames = (image(Role.FIRST_FRAME), image(Role.LAST_FRAME))
    assert TABLE.quote(request(MAX, "480P", 5, *frames)) == 25  # two: free
    assert TABLE.quote(request(MAX, "480P", 5, *frames, image())) == 25 + 8


@pytest.mark.parametrize(
    ("clips", "seconds"),
    [((2.0,), 2), ((2.1,), 3), ((2.0, 2.0), 4), ((2.1, 2.1), 6), ((14.9,), 15),
     ((15.0,), 15), ((None,), UNKNOWN_CLIPS_S), ((2.0, None), UNKNOWN_CLIPS_S), ((), 0)],
)  # fmt: skip
def test_reference_video_pays_its_seconds_rounded_up(
    clips: tuple[float | None, ...], seconds: int
) -> None:
    media = [video(s) for s in clips]
    assert TABLE.quote(request(H3, "2K", 6, *media)) == 13 * (6 + seconds)
    assert UNKNOWN_CLIPS_S == 15


def test_reference_audio_is_free() -> None:
    assert TABLE.quote(request(H3, "768P", 6, image(), audio(15.0), audio(None))) == 48


def test_a_per_task_model_quotes_its_price() -> None:
    v1 = VideoRequest("T2V-01", Mode.T2V, "a kite", 6, "720P")
    assert TABLE.quote(v1) == 43
    with pytest.raises(InvalidParams):
        TABLE.quote(VideoRequest("T2V-01", Mode.T2V, "a kite", 10, "720P"))


# -- settling when it succeeded -------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "charged"),
    [
        (Usage(output_seconds=6), 48),  # as reserved
        (Usage(output_seconds=5), 40),  # one second less
        (Usage(output_seconds=7), 50),  # more than reserved: capped
        (Usage(output_seconds=6, input_seconds=-3), 48),  # nonsense counts nothing off
        (Usage(output_seconds=4, input_image_count=5), 32),
        (Usage(output_seconds=4, input_image_count=6), 36),
        (Usage(output_seconds=4, input_seconds=1, input_image_count=6), 44),
        (Usage(output_seconds=1, input_audio_seconds=15), 8),  # audio: free
        (Usage(output_seconds=0, input_seconds=2), 50),  # no output billed: not a usage
        (None, 50),  # no usage: the reservation
    ],
)
def test_settle_charges_what_was_billed_never_more(usage: Usage | None, charged: int) -> None:
    reserved = 50
    assert TABLE.settle(H3, "768P", usage, reserved) == charged


def test_settle_keeps_the_reservation_where_it_cannot_price() -> None:
    billed = Usage(output_seconds=2)
    assert TABLE.settle("T2V-01", "720P", billed, 43) == 43  # priced per task
    assert TABLE.settle(H3, "480P", billed, 43) == 43  # the rate is gone from the table
    assert TABLE.settle(H3, "2K", billed, 43) == 26
    assert TABLE.settle(H3, "2K", billed, 0) == 0  # a free task stays free
    assert TABLE.settle(MAX, "480P", Usage(output_seconds=5, input_image_count=3), 99) == 33


# -- the lifecycle's settle -------------------------------------------------------------


def test_a_success_settles_the_rest_and_nothing_else_does() -> None:
    assert lifecycle.plan(Step.SUCCEED, TaskStatus.SUCCEEDED).remainder is Money.SETTLE
    others = [row for row in lifecycle.TABLE if row.step is not Step.SUCCEED]
    assert others and {row.remainder for row in others} == {Money.NONE}


@pytest.mark.parametrize(
    ("charged", "back"), [(None, 0), (50, 0), (49, 1), (0, 50), (51, 0), (-1, 50)]
)
def test_what_a_settle_gives_back(charged: int | None, back: int) -> None:
    assert Money.SETTLE.amount(50, charged) == back
    reserve, capture = Money.RESERVE.amount(50), Money.CAPTURE.amount(50)
    net = reserve + capture + Money.SETTLE.amount(50, charged)
    assert net == -(50 - back)  # a task nets what it was charged
    assert Money.SETTLE.amount(0, 0) == 0
    assert Money.REFUND.amount(50, charged) == 50  # a charge changes no other movement
