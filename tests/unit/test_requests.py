"""The validation table: every refusal names what to fix, every valid mode parses."""

from __future__ import annotations

from typing import Any

import pytest

from reelgate.domain.catalog import MODELS, Mode
from reelgate.errors import InvalidParams
from reelgate.providers.minimax import upstream_body
from reelgate.surfaces.minimax_v1.requests import parse_video_request
from tests.support import data_url, image_bytes

IMG = data_url(image_bytes(640, 400))
PORTRAIT = data_url(image_bytes(400, 640))


def refused(body: Any) -> str:
    with pytest.raises(InvalidParams) as info:
        parse_video_request(body)
    assert info.value.code == 2013
    return info.value.message


def test_text_to_video_defaults() -> None:
    req = parse_video_request({"model": "MiniMax-Hailuo-2.3", "prompt": "a cat"})
    assert (req.mode, req.duration, req.resolution) == (Mode.T2V, 6, "768P")
    assert upstream_body(req) == {"model": "MiniMax-Hailuo-2.3", "prompt": "a cat"}


def test_each_mode_is_detected() -> None:
    assert parse_video_request({"model": "I2V-01", "first_frame_image": IMG}).mode is Mode.I2V
    fl = parse_video_request(
        {"model": "MiniMax-Hailuo-02", "first_frame_image": IMG, "last_frame_image": PORTRAIT}
    )
    assert fl.mode is Mode.FL2V
    assert fl.first_frame is not None and fl.first_frame.width == 640
    s2v = parse_video_request(
        {"model": "S2V-01", "subject_reference": [{"type": "character", "image": [IMG]}]}
    )
    assert s2v.mode is Mode.S2V and s2v.subject is not None


def test_urls_are_left_to_the_upstream() -> None:
    req = parse_video_request(
        {"model": "MiniMax-Hailuo-2.3-Fast", "first_frame_image": "https://example.com/a.jpg"}
    )
    assert req.first_frame is not None and req.first_frame.width is None


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "JSON object"),
        ({}, "model is required"),
        ({"model": "Sora-2", "prompt": "x"}, "unknown model 'Sora-2'"),
        ({"model": "MiniMax-Hailuo-2.3"}, "prompt is required"),
        (
            {"model": "MiniMax-Hailuo-2.3", "prompt": "x" * 2001},
            "2001 characters; the limit is 2000",
        ),
        ({"model": "MiniMax-Hailuo-2.3", "prompt": 5}, "prompt must be a string"),
        (
            {"model": "MiniMax-Hailuo-2.3", "prompt": "x", "duration": 10, "resolution": "1080P"},
            "at 1080P allows duration 6 seconds, not 10",
        ),
        ({"model": "MiniMax-Hailuo-2.3", "prompt": "x", "duration": 8}, "not 8"),
        ({"model": "MiniMax-Hailuo-2.3", "prompt": "x", "duration": "6"}, "must be an integer"),
        (
            {"model": "MiniMax-Hailuo-2.3", "prompt": "x", "resolution": "512P"},
            "does not support resolution '512P'; allowed: 768P, 1080P",
        ),
        ({"model": "T2V-01", "prompt": "x", "resolution": "1080P"}, "allowed: 720P"),
        (
            {
                "model": "MiniMax-Hailuo-2.3",
                "prompt": "x",
                "first_frame_image": IMG,
                "last_frame_image": IMG,
            },
            "does not accept last_frame_image",
        ),
        ({"model": "MiniMax-Hailuo-2.3-Fast", "prompt": "x"}, "does not support text to video"),
        ({"model": "I2V-01", "prompt": "x"}, "send first_frame_image"),
        ({"model": "S2V-01", "prompt": "x"}, "send subject_reference"),
        (
            {
                "model": "MiniMax-Hailuo-02",
                "first_frame_image": IMG,
                "last_frame_image": IMG,
                "resolution": "512P",
            },
            "does not support resolution '512P'",
        ),
        (
            {"model": "MiniMax-Hailuo-2.3", "prompt": "x", "prompt_optimizer": "yes"},
            "prompt_optimizer must be true or false",
        ),
        (
            {"model": "S2V-01", "subject_reference": [{"type": "face", "image": [IMG]}]},
            "type must be 'character'",
        ),
        (
            {"model": "S2V-01", "subject_reference": [{"type": "character", "image": [IMG, IMG]}]},
            "exactly one image",
        ),
        (
            {"model": "MiniMax-Hailuo-2.3", "prompt": "x", "callback_url": "ftp://x"},
            "callback_url must be an http(s) URL",
        ),
    ],
)
def test_refusals_say_what_to_fix(body: Any, fragment: str) -> None:
    assert fragment in refused(body)


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        ("data:image/png;base64,%%%notbase64", "not valid base64"),
        (data_url(b"this is not an image"), "not a decodable image"),
        (data_url(image_bytes(200, 200)), "short side must be over 300 px"),
        (data_url(image_bytes(1800, 320)), "aspect ratio must be between 2:5 and 5:2"),
        (data_url(image_bytes(640, 400, "GIF"), "image/gif"), "must be JPG, JPEG, PNG or WebP"),
        (data_url(image_bytes(640, 400)[:200]), "not a decodable image"),
        ("file:///etc/passwd", "public http(s) URL or a data URL"),
        ("data:text/plain;base64,aGVsbG8=", "data URL"),
    ],
)
def test_image_rules(image: str, fragment: str) -> None:
    assert fragment in refused({"model": "MiniMax-Hailuo-2.3", "first_frame_image": image})


def test_every_model_has_a_default_that_is_allowed() -> None:
    for model in MODELS.values():
        for rules in model.modes.values():
            assert rules.default_resolution in rules.grid
            assert rules.default_duration in rules.grid[rules.default_resolution]


def test_fast_pretreatment_is_not_forwarded_where_the_schema_lacks_it() -> None:
    req = parse_video_request(
        {
            "model": "MiniMax-Hailuo-02",
            "first_frame_image": IMG,
            "last_frame_image": IMG,
            "fast_pretreatment": True,
        }
    )
    assert "fast_pretreatment" not in upstream_body(req)
    assert req.summary()["first_frame_image"].startswith("data:image;sha256=")
