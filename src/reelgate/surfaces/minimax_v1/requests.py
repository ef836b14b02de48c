"""MiniMax v1's create body, parsed and checked into the canonical
:class:`~reelgate.domain.video.VideoRequest`.

The rules are those of :mod:`reelgate.domain.catalog`; every refusal is an
:class:`~reelgate.errors.InvalidParams` whose message says what to fix. The sandbox
parses with the same function, so the gateway and its emulator refuse alike; this
module is pure for that reason (the package's ``__init__`` imports nothing either).

``null`` and ``""`` mean "not sent", for every field of the body and of a subject
reference (:func:`without_empty`): form-driven clients send ``""`` for the fields a user
left blank, JSON clients ``null``. A required field left empty is refused as missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reelgate.domain.catalog import (
    MAX_PROMPT_CHARS,
    MODELS,
    Api,
    Mode,
    ModeRules,
    VideoModel,
    models_for,
    models_of,
)
from reelgate.domain.images import is_data_url, is_url
from reelgate.domain.urls import parse_web_url
from reelgate.domain.video import Media, Role, VideoRequest, image_media
from reelgate.errors import InvalidParams

MODE_NAMES = {
    Mode.T2V: "text to video",
    Mode.I2V: "image to video (first_frame_image)",
    Mode.FL2V: "first and last frame (first_frame_image + last_frame_image)",
    Mode.S2V: "subject reference (subject_reference)",
}
V1_MODELS = models_of(Api.MINIMAX_V1)
_BOOL_FIELDS = ("prompt_optimizer", "fast_pretreatment", "aigc_watermark")
# The fields whose absence the upstream fills with its own default: forwarded only if sent.
_EXPLICIT = ("prompt", "duration", "resolution")


def is_empty(value: Any) -> bool:
    """``null`` or ``""``: what clients send for a field they leave unset."""
    return value is None or (isinstance(value, str) and not value)


def without_empty(body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that were really sent: ``null`` and ``""`` are as absent (docs/validation.md)."""
    return {name: value for name, value in body.items() if not is_empty(value)}


def parse_video_request(body: Any) -> VideoRequest:
    """Validate a create body against the model table; raise InvalidParams on the first fault.

    The checks run in a fixed order (model, mode, prompt, resolution, duration, flags,
    callback URL, images), so that a body with several faults is always refused for the
    same one.
    """
    if not isinstance(body, Mapping):
        raise InvalidParams("invalid params, the request body must be a JSON object")
    left_empty = {name for name, value in body.items() if is_empty(value)}
    body = without_empty(body)
    model = _model(body)
    mode = _mode_of(body)
    rules = model.modes.get(mode)
    if rules is None:
        raise InvalidParams(_mode_refusal(model, mode, left_empty))
    prompt = _prompt(body, mode)
    resolution, duration = _resolution_and_duration(body, model, mode, rules)
    options = _options(body, mode)
    callback_url = _callback_url(body)
    media: list[Media] = []
    if "first_frame_image" in body:
        media.append(_image(body, "first_frame_image", Role.FIRST_FRAME))
    if mode is Mode.FL2V:
        media.append(_image(body, "last_frame_image", Role.LAST_FRAME))
    if mode is Mode.S2V:
        if media:
            raise InvalidParams("invalid params, subject reference does not take first_frame_image")
        media.append(_subject(body))
    return VideoRequest(
        model=model.name,
        mode=mode,
        prompt=prompt,
        duration=duration,
        resolution=resolution,
        media=tuple(media),
        options=options,
        callback_url=callback_url or None,
        explicit=frozenset(name for name in _EXPLICIT if name in body),
    )


def _model(body: Mapping[str, Any]) -> VideoModel:
    model_name = body.get("model")
    if not isinstance(model_name, str) or not model_name:
        raise InvalidParams("invalid params, model is required")
    model = V1_MODELS.get(model_name)
    if model is None:
        if model_name in MODELS:  # a model of another API (MiniMax-H3: v2 only)
            raise InvalidParams(
                f"invalid params, {model_name} is served by MiniMax's v2 API only: "
                "POST /minimaxi/v2/video_generation"
            )
        raise InvalidParams(
            f"invalid params, unknown model {model_name!r}; choose one of: {', '.join(V1_MODELS)}"
        )
    return model


def _prompt(body: Mapping[str, Any], mode: Mode) -> str:
    prompt = body.get("prompt", "")
    if not isinstance(prompt, str):
        raise InvalidParams("invalid params, prompt must be a string")
    if mode is Mode.T2V and not prompt.strip():
        raise InvalidParams("invalid params, prompt is required for text to video")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidParams(
            f"invalid params, prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}"
        )
    return prompt


def _resolution_and_duration(
    body: Mapping[str, Any], model: VideoModel, mode: Mode, rules: ModeRules
) -> tuple[str, int]:
    """The effective resolution and duration: as sent, or the mode's defaults."""
    resolution = body.get("resolution")
    if resolution is None:
        resolution = rules.default_resolution
    elif not isinstance(resolution, str) or resolution not in rules.grid:
        raise InvalidParams(
            f"invalid params, {model.name} ({MODE_NAMES[mode]}) does not support resolution "
            f"{resolution!r}; allowed: {', '.join(rules.resolutions)}"
        )
    duration = body.get("duration")
    if duration is None:
        duration = rules.default_duration
        if duration not in rules.grid[resolution]:
            duration = rules.grid[resolution][0]
    elif isinstance(duration, bool) or not isinstance(duration, int):
        raise InvalidParams("invalid params, duration must be an integer number of seconds")
    allowed = rules.grid[resolution]
    if duration not in allowed:
        raise InvalidParams(
            f"invalid params, {model.name} at {resolution} allows duration "
            f"{' or '.join(map(str, allowed))} seconds, not {duration}"
        )
    return resolution, duration


def _options(body: Mapping[str, Any], mode: Mode) -> dict[str, bool]:
    """The switches sent, forwarded as they are: an empty one is not (MiniMax applies
    its default)."""
    sent: dict[str, bool] = {}
    for name in _BOOL_FIELDS:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, bool):
            raise InvalidParams(f"invalid params, {name} must be true or false")
        if name == "fast_pretreatment" and mode not in (Mode.T2V, Mode.I2V):
            continue  # not part of the FL2V and S2V schemas: not forwarded
        sent[name] = value
    return sent


def _callback_url(body: Mapping[str, Any]) -> str | None:
    callback_url = body.get("callback_url")
    if callback_url is None:
        return None
    if not isinstance(callback_url, str) or not is_url(callback_url):
        raise InvalidParams("invalid params, callback_url must be an http(s) URL")
    parse_web_url(callback_url, "callback_url")
    return callback_url


def _mode_of(body: Mapping[str, Any]) -> Mode:
    if body.get("subject_reference") is not None:
        return Mode.S2V
    if body.get("last_frame_image") is not None:
        return Mode.FL2V
    if body.get("first_frame_image") is not None:
        return Mode.I2V
    return Mode.T2V


def _mode_refusal(model: VideoModel, mode: Mode, left_empty: set[str]) -> str:
    supported = " and ".join(MODE_NAMES[m] for m in model.modes)
    if mode is Mode.T2V:
        needed = "subject_reference" if Mode.S2V in model.modes else "first_frame_image"
        if needed in left_empty:  # sent, but null or "": say so rather than "send it"
            return (
                f"invalid params, {needed} is required for {model.name} ({supported}) and was empty"
            )
        hint = f"send {needed}; {model.name} supports {supported}"
        return f"invalid params, {model.name} does not support text to video: {hint}"
    field_name = {
        Mode.I2V: "first_frame_image",
        Mode.FL2V: "last_frame_image",
        Mode.S2V: "subject_reference",
    }[mode]
    others = ", ".join(models_for(mode))
    return (
        f"invalid params, {model.name} does not accept {field_name}: {MODE_NAMES[mode]} "
        f"is available on {others}"
    )


def _image(body: Mapping[str, Any], name: str, role: Role) -> Media:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidParams(f"invalid params, {name} must be a URL or a data URL string")
    return image_media(value, name, role)


def _subject(body: Mapping[str, Any]) -> Media:
    refs = body.get("subject_reference")
    hint = 'subject_reference must be [{"type": "character", "image": ["<URL or data URL>"]}]'
    if not isinstance(refs, list) or len(refs) != 1 or not isinstance(refs[0], Mapping):
        raise InvalidParams(f"invalid params, {hint} with exactly one subject")
    ref = without_empty(refs[0])
    for name in ("type", "image"):
        if name not in ref:
            raise InvalidParams(f"invalid params, subject_reference {name} is required; {hint}")
    if ref.get("type") != "character":
        raise InvalidParams(f"invalid params, subject_reference type must be 'character'; {hint}")
    images = ref.get("image")
    if not isinstance(images, list) or len(images) != 1 or not isinstance(images[0], str):
        raise InvalidParams(f"invalid params, {hint} with exactly one image")
    return image_media(images[0], "subject_reference image", Role.SUBJECT)


def has_inline_image(body: Any) -> bool:
    """Whether parsing ``body`` may decode an image (a data URL in an image field): such a
    parse belongs on the decoder threads (:func:`reelgate.domain.images.in_decoder`)."""
    if not isinstance(body, Mapping):
        return False
    values: list[Any] = [body.get("first_frame_image"), body.get("last_frame_image")]
    refs = body.get("subject_reference")
    if isinstance(refs, list):
        for ref in refs:
            if isinstance(ref, Mapping) and isinstance(ref.get("image"), list):
                values.extend(ref["image"])
    return any(isinstance(v, str) and is_data_url(v) for v in values)
