"""OpenAI's create body (``POST /v1/videos``), multipart or JSON, parsed and checked into
the canonical :class:`~reelgate.domain.video.VideoRequest`.

The fields are OpenAI's: ``prompt``, ``model``, ``seconds``, ``size`` and
``input_reference`` (an uploaded file, or ``{"image_url": ...}``: a URL or a data URI;
in a form, ``input_reference[image_url]``), and reelgate's ``callback_url``. What each
means against the catalog is written in docs/openai.md; in short:

- ``model``: any of the catalog; none sent is :data:`DEFAULT_MODEL` (OpenAI's default,
  ``sora-2``, is no model here and is refused with the list);
- ``input_reference``: the video's first frame, on every model that takes one; on
  S2V-01, whose only image is a subject reference, the subject;
- ``size``: :mod:`.sizes`; ``seconds``: a duration the model makes at that resolution,
  a string (``"6"``, as the SDK sends it) or an integer; none sent is the model's default.

The checks run in a fixed order (model, the image's presence, prompt, size, seconds,
callback URL, then the image itself), so that a body with several faults is always
refused for the same one. Every refusal is a :class:`BadParam` naming the field.
Pure, like the MiniMax parsers: the sandbox validates with it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reelgate.domain.catalog import MODELS, Api, Mode, ModeRules, VideoModel
from reelgate.domain.images import (
    V2_IMAGES,
    decode_data_url,
    inspect_image,
    is_data_url,
    is_url,
)
from reelgate.domain.urls import parse_web_url
from reelgate.domain.video import Media, MediaKind, Role, VideoRequest, image_media
from reelgate.errors import InvalidParams
from reelgate.surfaces.openai.sizes import SizeChoice, allowed_sizes, default_choice, is_size

DEFAULT_MODEL = "MiniMax-Hailuo-2.3"  # text and first frame, MiniMax's current flagship
FIELDS = ("prompt", "model", "seconds", "size", "input_reference", "callback_url")
# a form's flattened reference object (the SDK's extra_body)
FORM_IMAGE_URL = "input_reference[image_url]"
FORM_FILE_ID = "input_reference[file_id]"
_MAX_SECONDS_DIGITS = 3


class BadParam(InvalidParams):
    """A refused create, in OpenAI's terms: the field at fault and a code
    (``invalid_value``, ``missing_required_parameter``, ``unknown_parameter``...)."""

    def __init__(self, param: str | None, message: str, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.param = param
        self.openai_code = code


@dataclass(frozen=True, slots=True)
class Upload:
    """A file part of a multipart body, read (the route bounds its size)."""

    filename: str
    content_type: str
    data: bytes


def parse_openai_request(body: Any) -> VideoRequest:
    """Validate a create body (a JSON object, or a form's fields with its files as
    :class:`Upload`) against the catalog; raise :class:`BadParam` on the first fault.
    An inline image is decoded: call it on the decoder threads when
    :func:`has_inline_image` says so."""
    if not isinstance(body, Mapping):
        raise BadParam(None, "The request body must be a JSON object or a multipart form.")
    fields = _fields(body)
    model = _model(fields.get("model"))
    reference = _reference(fields)
    mode = _mode(model, reference is not None)
    prompt = _prompt(fields.get("prompt"), model, mode)
    rules = model.modes[mode]
    choice = _size(fields.get("size"), model, mode)
    duration = _seconds(fields.get("seconds"), model, rules, choice.resolution)
    callback_url = _callback_url(fields.get("callback_url"))
    media = () if reference is None else (_image(reference, model, mode),)
    explicit = {"prompt", "duration", "resolution"}
    if model.api is Api.MINIMAX_V2 and mode is Mode.T2V:
        explicit.add("ratio")  # frames follow the image: v2 takes no ratio with them
    return VideoRequest(
        model=model.name,
        mode=mode,
        prompt=prompt,
        duration=duration,
        resolution=choice.resolution,
        ratio=choice.ratio,
        media=media,
        callback_url=callback_url,
        explicit=frozenset(explicit),
    )


def has_inline_image(body: Any) -> bool:
    """Whether parsing ``body`` decodes an image (an upload or a data URI)."""
    if not isinstance(body, Mapping):
        return False
    values = [body.get("input_reference"), body.get(FORM_IMAGE_URL)]
    if isinstance(values[0], Mapping):
        values.append(values[0].get("image_url"))
    return any(isinstance(v, Upload) or (isinstance(v, str) and is_data_url(v)) for v in values)


def _fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields sent: ``null`` and ``""`` read as absent; an unknown one is refused
    (as OpenAI does), so that a misspelt field is never silently ignored."""
    fields: dict[str, Any] = {}
    for name, value in body.items():
        if name not in FIELDS and name not in (FORM_IMAGE_URL, FORM_FILE_ID):
            raise BadParam(
                name, f"Unrecognized request argument supplied: {name}", "unknown_parameter"
            )
        if value is not None and value != "":
            fields[name] = value
    return fields


def _model(value: Any) -> VideoModel:
    if value is None:
        return MODELS[DEFAULT_MODEL]
    model = MODELS.get(value) if isinstance(value, str) else None
    if model is None:
        raise BadParam(
            "model",
            f"Invalid value for 'model': {value!r} is not a model of this gateway; "
            f"choose one of: {', '.join(MODELS)}.",
        )
    return model


def _prompt(value: Any, model: VideoModel, mode: Mode) -> str:
    """Required, as OpenAI has it; but an image alone may drive a v1 model (MiniMax's v1
    takes an image without a prompt; v2 always wants its text item)."""
    optional = mode is not Mode.T2V and model.api is Api.MINIMAX_V1
    if value is None:
        if optional:
            return ""
        raise BadParam(
            "prompt", "Missing required parameter: 'prompt'.", "missing_required_parameter"
        )
    if not isinstance(value, str):
        raise BadParam("prompt", "Invalid type for 'prompt': expected a string.", "invalid_type")
    if len(value) > model.max_prompt_chars:
        raise BadParam(
            "prompt",
            f"Invalid 'prompt': {len(value)} characters; {model.name} takes at most "
            f"{model.max_prompt_chars}.",
            "string_above_max_length",
        )
    if not value.strip() and not optional:
        raise BadParam("prompt", "Invalid 'prompt': it is blank.", "empty_string")
    return value


def _reference(fields: Mapping[str, Any]) -> str | Upload | None:
    """The image sent, in whichever of its forms: an upload, a URL or a data URI."""
    value = fields.get("input_reference")
    sent = [n for n in ("input_reference", FORM_IMAGE_URL, FORM_FILE_ID) if n in fields]
    if len(sent) > 1:
        raise BadParam("input_reference", "Send one input_reference, not several.")
    if FORM_FILE_ID in fields or (isinstance(value, Mapping) and "file_id" in value):
        raise BadParam(
            "input_reference",
            "input_reference by file_id is not supported here (there is no Files API); "
            "upload the image, or send image_url (a URL or a data URI).",
            "unsupported_parameter",
        )
    if FORM_IMAGE_URL in fields:
        value = fields[FORM_IMAGE_URL]
    if isinstance(value, Mapping):
        if set(value) != {"image_url"}:
            raise BadParam(
                "input_reference", 'input_reference must be {"image_url": "<URL or data URI>"}.'
            )
        value = value["image_url"]
    if value is None or isinstance(value, Upload):
        return value
    if not isinstance(value, str) or not (is_url(value) or is_data_url(value)):
        raise BadParam(
            "input_reference",
            "input_reference must be an image file, or image_url: an http(s) URL or a "
            "data URI 'data:image/<jpeg|png|webp>;base64,...'.",
        )
    return value


def _mode(model: VideoModel, has_image: bool) -> Mode:
    if not has_image:
        if Mode.T2V not in model.modes:
            raise BadParam(
                "input_reference",
                f"{model.name} makes a video from an image only: send input_reference.",
                "missing_required_parameter",
            )
        return Mode.T2V
    for mode in (Mode.I2V, Mode.S2V):  # a first frame; S2V-01 takes its subject
        if mode in model.modes:
            return mode
    raise BadParam(
        "input_reference", f"{model.name} makes a video from text only: it takes no image."
    )


def _size(value: Any, model: VideoModel, mode: Mode) -> SizeChoice:
    if value is None:
        return default_choice(model, mode)
    allowed = allowed_sizes(model, mode)
    choice = allowed.get(value) if isinstance(value, str) else None
    if choice is None:
        what = "a size 'WIDTHxHEIGHT'" if not isinstance(value, str) or not is_size(value) else ""
        raise BadParam(
            "size",
            f"Invalid value for 'size': {value!r}{' is not ' + what if what else ''}; "
            f"{model.name} ({_MODE_NAMES[mode]}) makes: {', '.join(allowed)}.",
        )
    return choice


_MODE_NAMES = {
    Mode.T2V: "text to video",
    Mode.I2V: "with a first frame",
    Mode.S2V: "with a subject reference",
}


def _seconds(value: Any, model: VideoModel, rules: ModeRules, resolution: str) -> int:
    allowed = rules.grid[resolution]
    if value is None:
        default = rules.default_duration
        return default if default in allowed else allowed[0]
    if isinstance(value, bool) or not isinstance(value, int | str):
        seconds = None
    elif isinstance(value, str):
        digits = value.isascii() and value.isdigit() and len(value) <= _MAX_SECONDS_DIGITS
        seconds = int(value) if digits else None
    else:
        seconds = value
    if seconds not in allowed:
        span = _span(allowed)
        raise BadParam(
            "seconds",
            f"Invalid value for 'seconds': {value!r}; {model.name} at {resolution} makes "
            f"{span} seconds.",
        )
    return seconds


def _span(allowed: tuple[int, ...]) -> str:
    if len(allowed) > 2 and allowed == tuple(range(allowed[0], allowed[-1] + 1)):
        return f"{allowed[0]} to {allowed[-1]}"
    return " or ".join(map(str, allowed))


def _callback_url(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not is_url(value):
        raise BadParam("callback_url", "callback_url must be an http(s) URL.")
    try:
        parse_web_url(value, "callback_url")
    except InvalidParams as exc:
        raise BadParam("callback_url", _plain(exc.message)) from None
    return value


def _image(value: str | Upload, model: VideoModel, mode: Mode) -> Media:
    """The image checked against the model's API's rules (v1: MiniMax's v1 image rules;
    v2: v2's), in the role the mode gives it."""
    role = Role.SUBJECT if mode is Mode.S2V else Role.FIRST_FRAME
    rules = V2_IMAGES if model.api is Api.MINIMAX_V2 else None
    try:
        if isinstance(value, Upload):
            info = inspect_image(value.data, "input_reference", rules)
            uri = f"data:image/{info.format};base64,{base64.b64encode(value.data).decode()}"
            return Media(MediaKind.IMAGE, role, uri, info.width, info.height)
        if is_url(value) or rules is None:
            return image_media(value, "input_reference", role)
        data = decode_data_url(value, "input_reference", V2_IMAGES.max_bytes)
        info = inspect_image(data, "input_reference", rules)
        return Media(MediaKind.IMAGE, role, value, info.width, info.height)
    except BadParam:
        raise
    except InvalidParams as exc:
        raise BadParam("input_reference", _plain(exc.message)) from None


def _plain(message: str) -> str:
    """A domain refusal's message without MiniMax's "invalid params, " prefix."""
    text = message.removeprefix("invalid params, ")
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
