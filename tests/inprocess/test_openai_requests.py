"""OpenAI's create body against the catalog (``surfaces/openai/requests.py`` and
``sizes.py``), each rule at its boundary and one past it; the size table against the
sandbox's renderer; the poll hint's bounds; and each error of the tree on OpenAI's wire
(the status that picks the SDK's exception class). Pure: no gateway needed."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reelgate.domain.catalog import MODELS, Api, Mode
from reelgate.domain.tasks import Task, TaskStatus
from reelgate.domain.video import Role
from reelgate.errors import (
    Conflict,
    Forbidden,
    InsufficientBalance,
    InvalidApiKey,
    InvalidParams,
    NotFound,
    RateLimited,
    ReelgateError,
    UpstreamRejected,
    UpstreamUnavailable,
    ValidationFailed,
)
from reelgate.sandbox.render import output_size, v2_output_size
from reelgate.surfaces.openai.requests import BadParam, Upload, parse_openai_request
from reelgate.surfaces.openai.sizes import V1_SIZES, V2_SIZES, allowed_sizes
from reelgate.surfaces.openai.views import poll_after_ms
from reelgate.surfaces.openai.wire import error_body
from tests.support import data_url, image_bytes


def refused(body: dict[str, Any], param: str | None, *words: str) -> BadParam:
    with pytest.raises(BadParam) as caught:
        parse_openai_request(body)
    assert caught.value.param == param, caught.value.message
    for word in words:
        assert word in caught.value.message, caught.value.message
    return caught.value


def t2v(model: str = "MiniMax-Hailuo-2.3", **fields: Any) -> dict[str, Any]:
    return {"prompt": "a lighthouse at dusk", "model": model, **fields}


# -- the size table --------------------------------------------------------------------


def test_the_size_table_is_the_renderers() -> None:
    """The sizes promised are the frames the sandbox renders (and MiniMax's, reference
    v1 2.5 and v2 5.3): a table of the surface's own must not drift from them."""
    for resolution, size in V1_SIZES.items():
        assert output_size(resolution) == size
    for resolution, frames in V2_SIZES.items():
        for ratio, size in frames.items():
            assert v2_output_size(resolution, ratio) == size


@pytest.mark.parametrize(
    ("model", "size", "resolution", "ratio"),
    [
        ("MiniMax-Hailuo-2.3", "1366x768", "768P", None),
        ("MiniMax-Hailuo-2.3", "1920x1080", "1080P", None),
        ("MiniMax-Hailuo-2.3", "1280x720", "768P", None),  # Sora's 720p: the 768P tier
        ("MiniMax-Hailuo-2.3", "1792x1024", "1080P", None),  # Sora's high size
        ("T2V-01", "1280x720", "720P", None),
        ("MiniMax-H3", "1344x768", "768P", "16:9"),
        ("MiniMax-H3", "768x1344", "768P", "9:16"),
        ("MiniMax-H3", "2560x1080", "2K", "21:9"),
        ("MiniMax-H3", "1280x720", "768P", "16:9"),
        ("MiniMax-H3", "720x1280", "768P", "9:16"),
        ("MiniMax-H3", "1792x1024", "2K", "16:9"),
        ("MiniMax-H3-Max", "848x480", "480P", "16:9"),
        ("MiniMax-H3-Max", "1024x1792", None, None),  # no tier above 768P
        ("MiniMax-Hailuo-2.3", "720x1280", None, None),  # v1 text to video is landscape
        ("T2V-01", "1792x1024", None, None),
        ("MiniMax-H3", "848x480", None, None),  # 480P is H3-Max's
        ("MiniMax-Hailuo-2.3", "1367x768", None, None),
        ("MiniMax-Hailuo-2.3", "1366X768", None, None),
        ("MiniMax-Hailuo-2.3", 1366, None, None),
    ],
)
def test_a_size_picks_a_resolution_and_ratio_or_is_refused_with_the_list(
    model: str, size: Any, resolution: str | None, ratio: str | None
) -> None:
    body = t2v(model, size=size)
    if resolution is None:
        error = refused(body, "size", repr(size), model)
        assert ", ".join(allowed_sizes(MODELS[model], Mode.T2V)) in error.message
        return
    request = parse_openai_request(body)
    assert (request.resolution, request.ratio) == (resolution, ratio)
    assert ("ratio" in request.explicit) is (ratio is not None)


def test_with_an_image_a_size_picks_the_resolution_and_the_image_the_aspect() -> None:
    png = Upload("frame.png", "image/png", image_bytes(640, 400))
    for size, resolution in (("912x512", "512P"), ("512x912", "512P"), ("720x1280", "768P")):
        request = parse_openai_request(
            {"prompt": "", "model": "MiniMax-Hailuo-02", "size": size, "input_reference": png}
        )
        assert (request.mode, request.resolution, request.ratio) == (Mode.I2V, resolution, None)
    h3 = parse_openai_request(t2v("MiniMax-H3", size="768x1344", input_reference=png))
    assert (h3.mode, h3.resolution, h3.ratio) == (Mode.I2V, "768P", "adaptive")
    assert "ratio" not in h3.explicit  # v2 takes no ratio with a frame
    refused(t2v("MiniMax-Hailuo-2.3", size="912x512", input_reference=png), "size")


def test_defaults_are_the_models() -> None:
    request = parse_openai_request({"prompt": "a kite"})
    assert (request.model, request.mode, request.resolution, request.duration) == (
        "MiniMax-Hailuo-2.3",
        Mode.T2V,
        "768P",
        6,
    )
    assert request.explicit == {"prompt", "duration", "resolution"}
    h3 = parse_openai_request(t2v("MiniMax-H3"))
    assert (h3.resolution, h3.ratio, h3.duration) == ("768P", "16:9", 6)
    assert parse_openai_request(t2v("T2V-01")).resolution == "720P"
    # "" and null are not sent (form clients send "" for a blank field)
    assert parse_openai_request(t2v("", size="", seconds=None)).model == "MiniMax-Hailuo-2.3"


# -- seconds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "size", "seconds", "ok"),
    [
        ("MiniMax-Hailuo-2.3", "1366x768", "6", True),
        ("MiniMax-Hailuo-2.3", "1366x768", "10", True),
        ("MiniMax-Hailuo-2.3", "1366x768", "5", False),
        ("MiniMax-Hailuo-2.3", "1366x768", "11", False),
        ("MiniMax-Hailuo-2.3", "1920x1080", "6", True),
        ("MiniMax-Hailuo-2.3", "1920x1080", "10", False),
        ("MiniMax-H3", "1344x768", "4", True),
        ("MiniMax-H3", "1344x768", "3", False),
        ("MiniMax-H3", "1344x768", "15", True),
        ("MiniMax-H3", "1344x768", 15, True),
        ("MiniMax-H3", "1344x768", "16", False),
        ("MiniMax-H3-Max", "848x480", "5", True),
        ("MiniMax-H3-Max", "848x480", "4", False),
        ("MiniMax-H3", "1344x768", True, False),
        ("MiniMax-H3", "1344x768", "8.0", False),
        ("MiniMax-H3", "1344x768", "+8", False),
        ("MiniMax-H3", "1344x768", 8.0, False),
    ],
)
def test_seconds_are_a_duration_the_model_makes_at_that_resolution(
    model: str, size: str, seconds: Any, ok: bool
) -> None:
    body = t2v(model, size=size, seconds=seconds)
    if ok:
        assert parse_openai_request(body).duration == int(seconds)
    else:
        error = refused(body, "seconds", model)
        assert ("4 to 15" if model == "MiniMax-H3" else "seconds") in error.message


# -- model, prompt, fields -------------------------------------------------------------


def test_an_unknown_model_is_refused_with_the_catalog() -> None:
    error = refused(t2v("sora-2"), "model", "'sora-2'", "MiniMax-H3", "T2V-01")
    assert error.openai_code == "invalid_value"


@pytest.mark.parametrize(("model", "limit"), [("MiniMax-Hailuo-2.3", 2000), ("MiniMax-H3", 7000)])
def test_the_prompt_is_required_and_bounded_by_the_model(model: str, limit: int) -> None:
    assert parse_openai_request(t2v(model, prompt="x" * limit)).prompt == "x" * limit
    error = refused(t2v(model, prompt="x" * (limit + 1)), "prompt", str(limit + 1), str(limit))
    assert error.openai_code == "string_above_max_length"
    assert refused({"model": model}, "prompt").openai_code == "missing_required_parameter"
    refused(t2v(model, prompt="   "), "prompt", "blank")
    refused(t2v(model, prompt=["a"]), "prompt", "string")


def test_an_unknown_field_is_refused_as_openai_does() -> None:
    error = refused(t2v(resolution="768P"), "resolution", "Unrecognized")
    assert error.openai_code == "unknown_parameter"


def test_callback_url_must_be_a_web_url() -> None:
    url = "https://hooks.example.com/video"
    assert parse_openai_request(t2v(callback_url=url)).callback_url == url
    refused(t2v(callback_url="ftp://hooks.example.com/video"), "callback_url")
    refused(t2v(callback_url="https://hooks.example.com:99999/x"), "callback_url")


def test_faults_are_reported_in_a_fixed_order() -> None:
    # model before size before seconds, whatever order the fields came in
    refused({"seconds": "99", "size": "1x1", "prompt": "a", "model": "sora-2"}, "model")
    refused({"seconds": "99", "size": "1x1", "prompt": "a"}, "size")


# -- input_reference -------------------------------------------------------------------


def test_an_uploaded_image_is_the_first_frame_as_a_data_uri() -> None:
    data = image_bytes(640, 400)
    request = parse_openai_request(t2v(input_reference=Upload("f.png", "image/png", data)))
    (medium,) = request.media
    assert (request.mode, medium.role) == (Mode.I2V, Role.FIRST_FRAME)
    assert medium.source == "data:image/png;base64," + base64.b64encode(data).decode()
    assert (medium.width, medium.height) == (640, 400)


@pytest.mark.parametrize(
    "form",
    [
        lambda v: {"input_reference": {"image_url": v}},  # JSON, as OpenAI documents it
        lambda v: {"input_reference[image_url]": v},  # a form, as the SDK's extra_body sends it
        lambda v: {"input_reference": v},  # a plain string
    ],
)
def test_an_image_url_or_data_uri_is_taken_in_each_form(form: Any) -> None:
    url = "https://images.example.com/frame.png"
    assert parse_openai_request(t2v(**form(url))).media[0].source == url
    inline = data_url(image_bytes(640, 400))
    assert parse_openai_request(t2v(**form(inline))).media[0].width == 640


def test_image_rules_are_those_of_the_models_api_at_their_boundary() -> None:
    def upload(width: int, height: int) -> Upload:
        return Upload("f.png", "image/png", image_bytes(width, height))

    # v1: the short side must be over 300 px
    parse_openai_request(t2v(input_reference=upload(301, 400)))
    refused(t2v(input_reference=upload(300, 400)), "input_reference", "300")
    # v2: each side 256 to 5760 px
    parse_openai_request(t2v("MiniMax-H3", input_reference=upload(256, 300)))
    refused(t2v("MiniMax-H3", input_reference=upload(255, 300)), "input_reference", "256")
    gif = Upload("f.gif", "image/gif", b"GIF89a" + bytes(40))
    refused(t2v(input_reference=gif), "input_reference", "GIF")


def test_an_image_a_model_cannot_take_or_needs() -> None:
    png = Upload("f.png", "image/png", image_bytes(640, 400))
    refused(t2v("T2V-01", input_reference=png), "input_reference", "text only")
    error = refused(t2v("MiniMax-Hailuo-2.3-Fast"), "input_reference", "image only")
    assert error.openai_code == "missing_required_parameter"
    subject = parse_openai_request(t2v("S2V-01", input_reference=png))
    assert (subject.mode, subject.media[0].role) == (Mode.S2V, Role.SUBJECT)
    # a subject does not set the aspect as a first frame does: S2V-01's video is 16:9
    parse_openai_request(t2v("S2V-01", input_reference=png, size="1920x1080"))
    refused(t2v("S2V-01", input_reference=png, size="1080x1920"), "size", "1920x1080")


def test_an_image_alone_may_drive_a_v1_model_but_v2_wants_a_prompt() -> None:
    png = Upload("f.png", "image/png", image_bytes(640, 400))
    assert parse_openai_request({"input_reference": png}).prompt == ""
    assert parse_openai_request({"prompt": " ", "input_reference": png}).prompt == " "
    refused({"model": "MiniMax-H3", "input_reference": png}, "prompt", "Missing")
    refused({"model": "MiniMax-H3", "prompt": " ", "input_reference": png}, "prompt", "blank")


def test_a_reference_by_file_id_or_twice_is_refused() -> None:
    error = refused(t2v(input_reference={"file_id": "file_1"}), "input_reference", "file_id")
    assert error.openai_code == "unsupported_parameter"
    refused(t2v(**{"input_reference[file_id]": "file_1"}), "input_reference", "file_id")
    both = {"input_reference": "https://a.example/x.png", "input_reference[image_url]": "x"}
    refused(t2v(**both), "input_reference", "one")
    refused(t2v(input_reference="not a url"), "input_reference", "data URI")
    refused(
        t2v(input_reference={"image_url": "https://a.example/x.png", "x": 1}), "input_reference"
    )


# -- the poll hint ---------------------------------------------------------------------

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def task(status: TaskStatus, next_poll_in: float | None) -> Task:
    at = NOW + timedelta(seconds=next_poll_in) if next_poll_in is not None else None
    return Task(
        1, "video_x", 1, None, "T2V-01", "t2v", status, None, None, "c", {}, 6, "720P",
        NOW, NOW, None, NOW, None, None, None, None, next_poll_at=at,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("next_poll_in", "expected"),
    [
        (None, 1000),  # never polled yet
        (-5.0, 1000),  # overdue: the tracker is about to poll it
        (0.75, 1000),  # the floor: the SDK's own default
        (0.751, 1001),
        (4.0, 4250),  # the next poll, and its round trip
        (29.75, 30000),  # the cap: the tracker's longest interval
        (29.751, 30000),
    ],
)
def test_the_poll_hint_is_the_next_poll_within_bounds(
    next_poll_in: float | None, expected: int
) -> None:
    assert poll_after_ms(task(TaskStatus.QUEUED, next_poll_in), NOW, 30.0) == expected


def test_a_finished_task_has_no_poll_hint() -> None:
    for status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED):
        assert poll_after_ms(task(status, 4.0), NOW, 30.0) is None
    assert poll_after_ms(task(TaskStatus.RUNNING, 4.0), NOW, 30.0) == 4250


# -- the error envelope ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "kind", "code"),
    [
        (BadParam("size", "no"), 400, "invalid_request_error", "invalid_value"),
        (InvalidParams("invalid params, no"), 400, "invalid_request_error", "invalid_request"),
        (InvalidApiKey(), 401, "invalid_request_error", "invalid_api_key"),
        (Forbidden(), 403, "invalid_request_error", "permission_denied"),
        (NotFound(), 404, "invalid_request_error", "not_found"),
        (Conflict(), 409, "invalid_request_error", "conflict"),
        (ValidationFailed(), 422, "invalid_request_error", "invalid_value"),
        (RateLimited(), 429, "requests", "rate_limit_exceeded"),
        (InsufficientBalance(), 429, "insufficient_quota", "insufficient_quota"),
        (UpstreamRejected(2013, "bad"), 400, "invalid_request_error", "upstream_refused"),
        (UpstreamRejected(1026, "bad"), 400, "invalid_request_error", "moderation_blocked"),
        (UpstreamRejected(1000, "busy"), 502, "server_error", "upstream_error"),
        (UpstreamUnavailable(), 503, "server_error", "upstream_error"),
        (ReelgateError(), 500, "server_error", "internal_error"),
    ],
)
def test_each_error_reads_as_openai_with_the_status_that_picks_the_sdks_class(
    error: ReelgateError, status: int, kind: str, code: str
) -> None:
    got, body, headers = error_body(error, "trace-1")
    assert got == status
    assert body == {
        "error": {
            "message": error.message.removeprefix("invalid params, "),
            "type": kind,
            "param": "size" if isinstance(error, BadParam) else None,
            "code": code,
        }
    }
    assert headers["x-request-id"] == "trace-1"
    # a missing balance is not worth the SDK's retries; anything else follows its rules
    assert ("x-should-retry" in headers) is isinstance(error, InsufficientBalance)


def test_every_model_of_the_catalog_is_served() -> None:
    for name, model in MODELS.items():
        mode = next(iter(model.modes))
        body: dict[str, Any] = {"prompt": "a kite", "model": name}
        if mode is not Mode.T2V:
            body["input_reference"] = Upload("f.png", "image/png", image_bytes(640, 400))
        request = parse_openai_request(body)
        assert request.model == name
        assert (request.ratio is not None) is (model.api is Api.MINIMAX_V2)
