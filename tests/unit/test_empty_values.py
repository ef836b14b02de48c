"""`null` and `""` mean "not sent" for every field of a create body (issue 14, item 3).

Each field is tried with both: an optional one parses as if it were absent (its default
applies, nothing is forwarded), a required one is refused with a message saying it is
required. docs/validation.md has the table.
"""

from __future__ import annotations

from typing import Any

import pytest

from reelgate.domain.catalog import Mode
from reelgate.errors import InvalidParams
from reelgate.providers.minimax import upstream_body
from reelgate.surfaces.minimax_v1.requests import VideoRequest, parse_video_request
from tests.support import data_url, image_bytes

IMG = data_url(image_bytes(640, 400))
EMPTY = [None, ""]
T2V = {"model": "MiniMax-Hailuo-2.3", "prompt": "a cat"}
I2V = {"model": "MiniMax-Hailuo-2.3", "first_frame_image": IMG}
FL2V = {"model": "MiniMax-Hailuo-02", "first_frame_image": IMG, "last_frame_image": IMG}
S2V = {"model": "S2V-01", "subject_reference": [{"type": "character", "image": [IMG]}]}


def parsed(base: dict[str, Any], **extra: Any) -> VideoRequest:
    return parse_video_request({**base, **extra})


def refused(body: dict[str, Any]) -> str:
    with pytest.raises(InvalidParams) as info:
        parse_video_request(body)
    assert info.value.code == 2013
    return info.value.message


def same_as_absent(base: dict[str, Any], name: str, empty: Any) -> VideoRequest:
    """Parse ``base`` with ``name`` set to ``empty``: it must equal ``base`` without it."""
    with_empty = parsed(base, **{name: empty})
    assert with_empty == parse_video_request({k: v for k, v in base.items() if k != name})
    assert name not in upstream_body(with_empty)
    return with_empty


@pytest.mark.parametrize("empty", EMPTY)
@pytest.mark.parametrize(
    "name",
    [
        "prompt_optimizer",
        "fast_pretreatment",
        "aigc_watermark",
        "duration",
        "resolution",
        "callback_url",
        "first_frame_image",
        "last_frame_image",
        "subject_reference",
        "an_unknown_field",
    ],
)
def test_optional_fields_of_text_to_video(name: str, empty: Any) -> None:
    req = same_as_absent(T2V, name, empty)
    assert req.mode is Mode.T2V and req.callback_url is None
    assert (req.duration, req.resolution) == (6, "768P")  # the defaults


@pytest.mark.parametrize("empty", EMPTY)
@pytest.mark.parametrize(
    ("base", "name"),
    [
        (I2V, "prompt"),  # optional outside text to video
        (I2V, "last_frame_image"),  # first frame only, not first and last
        (I2V, "subject_reference"),
        (I2V, "fast_pretreatment"),
        (FL2V, "prompt"),
        (FL2V, "first_frame_image"),  # the schema requires only the last frame
        (FL2V, "duration"),
        (FL2V, "resolution"),
        (S2V, "first_frame_image"),  # a subject reference takes no first frame
        (S2V, "prompt"),
        (S2V, "callback_url"),
    ],
)
def test_optional_fields_of_the_image_modes(base: dict[str, Any], name: str, empty: Any) -> None:
    req = same_as_absent(base, name, empty)
    assert req.mode is parse_video_request(base).mode


def test_an_empty_prompt_is_not_forwarded_where_it_is_optional() -> None:
    req = parsed(I2V, prompt="")
    assert req.prompt == "" and upstream_body(req) == {
        "model": "MiniMax-Hailuo-2.3",
        "first_frame_image": IMG,
    }
    assert req.first_frame is not None and req.first_frame.source == IMG


@pytest.mark.parametrize("empty", EMPTY)
def test_an_empty_model_is_required(empty: Any) -> None:
    assert refused({**T2V, "model": empty}) == "invalid params, model is required"


@pytest.mark.parametrize("empty", EMPTY)
def test_an_empty_prompt_is_required_for_text_to_video(empty: Any) -> None:
    assert "prompt is required for text to video" in refused({**T2V, "prompt": empty})


@pytest.mark.parametrize("empty", EMPTY)
@pytest.mark.parametrize(
    ("model", "needed"),
    [
        ("MiniMax-Hailuo-2.3-Fast", "first_frame_image"),
        ("I2V-01", "first_frame_image"),
        ("S2V-01", "subject_reference"),
    ],
)
def test_an_empty_image_is_required_where_the_model_needs_it(
    model: str, needed: str, empty: Any
) -> None:
    message = refused({"model": model, "prompt": "x", needed: empty})
    assert f"{needed} is required for {model}" in message and "was empty" in message


@pytest.mark.parametrize("empty", EMPTY)
def test_an_empty_last_frame_is_not_first_and_last(empty: Any) -> None:
    # without it the request is first frame only, which Hailuo-02 also does
    req = parsed(FL2V, last_frame_image=empty)
    assert req.mode is Mode.I2V and req.last_frame is None


@pytest.mark.parametrize("empty", EMPTY)
@pytest.mark.parametrize("name", ["type", "image"])
def test_an_empty_field_of_a_subject_reference_is_required(name: str, empty: Any) -> None:
    ref = {"type": "character", "image": [IMG], name: empty}
    message = refused({"model": "S2V-01", "subject_reference": [ref]})
    assert f"subject_reference {name} is required" in message


@pytest.mark.parametrize("empty", EMPTY)
def test_an_empty_extra_field_of_a_subject_reference_is_ignored(empty: Any) -> None:
    ref = {"type": "character", "image": [IMG], "name": empty}
    assert parse_video_request({"model": "S2V-01", "subject_reference": [ref]}).subject


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        # what is not empty is still checked as before
        ("callback_url", " ", "callback_url must be an http(s) URL"),
        ("duration", "6", "must be an integer"),
        ("duration", 0, "not 0"),
        ("prompt_optimizer", "false", "must be true or false"),
        ("resolution", "768p", "does not support resolution '768p'"),
        ("first_frame_image", " ", "first_frame_image must be a public http(s) URL"),
    ],
)
def test_values_that_are_not_empty_are_checked(name: str, value: Any, fragment: str) -> None:
    assert fragment in refused({**T2V, name: value})
