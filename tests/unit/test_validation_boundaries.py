"""Every validation limit at the boundary and one past it: a prompt of exactly the limit,
a short side of 300 and 301 px, the 2:5 and 5:2 aspect bounds exactly and just past, and
the durations each model's grid allows (issue 15: a hand-made mutation run moved each of
these limits by one and no test noticed)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from reelgate.domain.catalog import MAX_PROMPT_CHARS, MODELS, Mode
from reelgate.domain.images import MAX_ASPECT, MIN_ASPECT, MIN_SHORT_SIDE, check_dimensions
from reelgate.errors import InvalidParams
from reelgate.providers.minimax import upstream_body
from reelgate.surfaces.minimax_v1.requests import parse_video_request
from tests.support import data_url


def png(width: int, height: int) -> str:
    """A plain PNG as a data URL: a few hundred bytes, made in a millisecond."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 160)).save(buf, "PNG")
    return data_url(buf.getvalue())


def refused(body: Any) -> str:
    with pytest.raises(InvalidParams) as info:
        parse_video_request(body)
    assert info.value.code == 2013
    return info.value.message


def test_the_limits_are_those_of_minimax() -> None:
    assert MAX_PROMPT_CHARS == 2000
    assert MIN_SHORT_SIDE == 300
    assert (MIN_ASPECT, MAX_ASPECT) == (2 / 5, 5 / 2)


# -- the prompt -----------------------------------------------------------------------


@pytest.mark.parametrize("char", ["x", "é", "猫"])  # characters, not bytes
def test_a_prompt_of_exactly_the_limit_is_accepted(char: str) -> None:
    prompt = char * MAX_PROMPT_CHARS
    request = parse_video_request({"model": "MiniMax-Hailuo-2.3", "prompt": prompt})
    assert request.prompt == prompt and upstream_body(request)["prompt"] == prompt


def test_a_prompt_one_past_the_limit_is_refused() -> None:
    message = refused({"model": "MiniMax-Hailuo-2.3", "prompt": "x" * (MAX_PROMPT_CHARS + 1)})
    assert message == "invalid params, prompt is 2001 characters; the limit is 2000"


def test_the_prompt_limit_holds_in_every_mode() -> None:
    long = "x" * (MAX_PROMPT_CHARS + 1)
    body = {"model": "I2V-01", "first_frame_image": "https://example.com/a.png"}
    assert parse_video_request({**body, "prompt": long[:-1]}).mode is Mode.I2V
    assert "2001 characters" in refused({**body, "prompt": long})


# -- the image's short side -----------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "accepted"),
    [
        (301, 400, True),
        (300, 400, False),
        (400, 301, True),
        (400, 300, False),
        (301, 301, True),
        (300, 300, False),
    ],
)
def test_the_short_side_must_be_over_300_px(width: int, height: int, accepted: bool) -> None:
    body = {"model": "I2V-01", "first_frame_image": png(width, height)}
    if accepted:
        request = parse_video_request(body)
        assert request.first_frame is not None
        assert (request.first_frame.width, request.first_frame.height) == (width, height)
    else:
        message = refused(body)
        assert message == (
            f"invalid params, first_frame_image is {width}x{height}: "
            "its short side must be over 300 px"
        )


# -- the image's aspect ratio ---------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "accepted"),
    [
        (400, 1000, True),  # 2:5 exactly
        (400, 1001, False),  # just taller
        (1000, 400, True),  # 5:2 exactly
        (1001, 400, False),  # just wider
        (401, 1000, True),
        (1000, 401, True),
    ],
)
def test_the_aspect_ratio_is_between_2_5_and_5_2_inclusive(
    width: int, height: int, accepted: bool
) -> None:
    body = {"model": "I2V-01", "first_frame_image": png(width, height)}
    if accepted:
        assert parse_video_request(body).first_frame is not None
    else:
        assert refused(body) == (
            f"invalid params, first_frame_image is {width}x{height}: its aspect ratio must be "
            "between 2:5 and 5:2"
        )


@pytest.mark.parametrize("field", ["last_frame_image", "subject_reference image"])
def test_the_image_rules_name_the_field_they_refuse(field: str) -> None:
    with pytest.raises(InvalidParams, match=f"^invalid params, {field} is 300x900: its short"):
        check_dimensions(300, 900, field)


def test_every_image_field_is_checked() -> None:
    good, small = png(640, 400), png(300, 400)
    fl2v = {"model": "MiniMax-Hailuo-02", "first_frame_image": good, "last_frame_image": small}
    assert "last_frame_image is 300x400" in refused(fl2v)
    s2v = {"model": "S2V-01", "subject_reference": [{"type": "character", "image": [small]}]}
    assert "subject_reference image is 300x400" in refused(s2v)


# -- durations ------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["T2V-01", "T2V-01-Director"])
def test_a_legacy_model_asked_for_10_seconds_is_refused(model: str) -> None:
    assert parse_video_request({"model": model, "prompt": "a cat", "duration": 6}).duration == 6
    message = refused({"model": model, "prompt": "a cat", "duration": 10})
    assert message == f"invalid params, {model} at 720P allows duration 6 seconds, not 10"


@pytest.mark.parametrize("model", ["I2V-01", "I2V-01-Director", "I2V-01-live"])
def test_a_legacy_image_model_asked_for_10_seconds_is_refused(model: str) -> None:
    body = {"model": model, "first_frame_image": "https://example.com/a.png"}
    assert parse_video_request(body).duration == 6
    assert "allows duration 6 seconds, not 10" in refused({**body, "duration": 10})


@pytest.mark.parametrize(
    ("model", "resolution", "duration", "accepted"),
    [
        ("MiniMax-Hailuo-2.3", "768P", 10, True),
        ("MiniMax-Hailuo-2.3", "768P", 6, True),
        ("MiniMax-Hailuo-2.3", "1080P", 6, True),
        ("MiniMax-Hailuo-2.3", "1080P", 10, False),
        ("MiniMax-Hailuo-2.3", "768P", 7, False),
        ("MiniMax-Hailuo-2.3", "768P", 5, False),
        ("MiniMax-Hailuo-02", "768P", 10, True),
        ("MiniMax-Hailuo-02", "512P", 6, False),  # 512P is for image to video only
    ],
)
def test_the_duration_grid_of_the_current_models(
    model: str, resolution: str, duration: int, accepted: bool
) -> None:
    body = {"model": model, "prompt": "a cat", "resolution": resolution, "duration": duration}
    if accepted:
        request = parse_video_request(body)
        assert (request.resolution, request.duration) == (resolution, duration)
        assert upstream_body(request)["duration"] == duration
    else:
        refused(body)


def test_defaults_are_the_models_own() -> None:
    for model in MODELS.values():
        for mode, rules in model.modes.items():
            assert rules.default_duration in rules.grid[rules.default_resolution], (model, mode)
    request = parse_video_request({"model": "MiniMax-Hailuo-2.3", "prompt": "a"})
    assert (request.resolution, request.duration) == ("768P", 6)
    assert "duration" not in upstream_body(request) and "resolution" not in upstream_body(request)
    legacy = parse_video_request({"model": "T2V-01", "prompt": "a"})
    assert (legacy.resolution, legacy.duration) == ("720P", 6)
    hd = parse_video_request({"model": "MiniMax-Hailuo-2.3", "prompt": "a", "resolution": "1080P"})
    assert hd.duration == 6


@pytest.mark.parametrize("duration", [True, 6.0, "6"])
def test_a_duration_that_is_not_an_integer_is_refused(duration: Any) -> None:
    message = refused({"model": "T2V-01", "prompt": "a", "duration": duration})
    assert message == "invalid params, duration must be an integer number of seconds"
