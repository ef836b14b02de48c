"""MiniMax v2's create body (``POST /v2/video_generation``), parsed and checked into the
canonical :class:`~reelgate.domain.video.VideoRequest`.

The checks run in the order of the v2 reference's section 13 (model, duration,
resolution, the text item, each item's payload, roles and counts, frames against
references, ratio, the model's capabilities, ``extra``), so that a body with several
faults is always refused for the same one. Every refusal is an ``InvalidParams`` (2013);
the v2 error shape adds the HTTP status and the ``(2013)`` suffix. Pure, like v1's parse:
the sandbox validates with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reelgate.domain.catalog import (
    ADAPTIVE,
    MODELS,
    RATIOS,
    Api,
    Mode,
    VideoModel,
    models_of,
)
from reelgate.domain.urls import parse_web_url
from reelgate.domain.video import Media, MediaKind, Role, VideoRequest
from reelgate.errors import InvalidParams
from reelgate.surfaces.minimax_v2.media import check_media, check_totals, has_inline_media

V2_MODELS = models_of(Api.MINIMAX_V2)
TYPES = {"image_url": MediaKind.IMAGE, "video_url": MediaKind.VIDEO, "audio_url": MediaKind.AUDIO}
# the roles each kind of item may take; the first is the role of an item sent without one
ROLES: dict[MediaKind, tuple[str, ...]] = {
    MediaKind.IMAGE: ("first_frame", "last_frame", "reference_image"),
    MediaKind.VIDEO: ("reference_video",),
    MediaKind.AUDIO: ("reference_audio",),
}
MAX_COUNT = {"first_frame": 1, "last_frame": 1, "reference_image": 9, "reference_video": 3}
MAX_COUNT["reference_audio"] = 3
MAX_REFERENCES = 12  # reference files of every kind together (v2 reference 3.4)
EXPANSION_MODES = ("disabled", "balanced", "quality")

__all__ = ["V2_MODELS", "has_inline_media", "parse_v2_request"]


def parse_v2_request(body: Any) -> VideoRequest:
    """Validate a v2 create body against the catalog; raise InvalidParams on the first
    fault. Inline media are decoded and probed: call it on the decoder threads when
    :func:`has_inline_media` says so."""
    if not isinstance(body, Mapping):
        raise InvalidParams("invalid params, the request body must be a JSON object")
    model = _model(body.get("model"))
    duration = _duration(body.get("duration"), model)
    resolution = _resolution(body.get("resolution"), model)
    content = body.get("content")
    if not isinstance(content, list) or not content:
        raise InvalidParams("invalid params, content must be a non-empty array of items")
    prompt = _prompt(content, model)
    roled = [_item(item, i) for i, item in enumerate(content) if item.get("type") != "text"]
    mode = _mode(roled)
    rules = model.modes.get(mode)
    if rules is None:
        raise InvalidParams(
            f"invalid params, {model.name} does not take reference images, videos or audio"
        )
    if duration not in rules.grid[resolution]:  # every v2 duration is in every resolution
        raise InvalidParams(f"invalid params, {model.name} does not take {duration} s")
    ratio = _ratio(body.get("ratio"), mode, rules.default_ratio)
    options = _options(body, model)
    media = tuple(check_media(kind, role, value, f"content[{i}]") for i, kind, role, value in roled)
    check_totals(media)
    return VideoRequest(
        model=model.name,
        mode=mode,
        prompt=prompt,
        duration=duration,
        resolution=resolution,
        ratio=ratio,
        media=media,
        options=options,
        callback_url=_callback_url(body.get("callback_url")),
        explicit=frozenset(n for n in ("resolution", "ratio") if body.get(n) is not None)
        | {"prompt", "duration"},
    )


def _model(name: Any) -> VideoModel:
    if not isinstance(name, str) or not name:
        raise InvalidParams("invalid params, model is required")
    model = V2_MODELS.get(name)
    if model is None:
        if name in MODELS:
            raise InvalidParams(
                f"invalid params, {name} is served by MiniMax's v1 API: "
                "POST /minimaxi/v1/video_generation"
            )
        raise InvalidParams(
            f"invalid params, unknown model {name!r}; choose one of: {', '.join(V2_MODELS)}"
        )
    return model


def _duration(value: Any, model: VideoModel) -> int:
    allowed = next(iter(next(iter(model.modes.values())).grid.values()))
    span = f"{allowed[0]} to {allowed[-1]}"
    if value is None:
        raise InvalidParams(f"invalid params, duration is required: {span} seconds")
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise InvalidParams(
            f"invalid params, {model.name} takes a duration of {span} seconds (an integer), "
            f"not {value!r}"
        )
    return value


def _resolution(value: Any, model: VideoModel) -> str:
    grid = next(iter(model.modes.values())).grid
    if value is None:
        return next(iter(model.modes.values())).default_resolution
    if not isinstance(value, str) or value not in grid:
        raise InvalidParams(
            f"invalid params, {model.name} does not support resolution {value!r}; "
            f"allowed: {', '.join(grid)}"
        )
    return value


def _prompt(content: list[Any], model: VideoModel) -> str:
    if not all(isinstance(item, Mapping) for item in content):
        raise InvalidParams("invalid params, each content item must be an object")
    texts = [item for item in content if item.get("type") == "text"]
    if len(texts) != 1:
        raise InvalidParams(
            "invalid params, content must include exactly one non-empty text item "
            f"(prompt is required); it has {len(texts)}"
        )
    text = texts[0].get("text")
    if not isinstance(text, str) or not text.strip():
        raise InvalidParams(
            "invalid params, content must include a non-empty text item (prompt is required)"
        )
    if len(text) > model.max_prompt_chars:
        raise InvalidParams(
            f"invalid params, the text item is {len(text)} characters; the limit is "
            f"{model.max_prompt_chars}"
        )
    return text


def _item(item: Mapping[str, Any], index: int) -> tuple[int, MediaKind, str, str]:
    """A media item's kind, role and value, its payload checked against its type."""
    where = f"content[{index}]"
    kind = TYPES.get(item.get("type"))  # type: ignore[arg-type]
    if kind is None:
        raise InvalidParams(
            f"invalid params, {where}.type must be text, image_url, video_url or audio_url"
        )
    name = f"{kind.value}_url"
    others = [t for t in (*TYPES, "text") if t != name and t in item]
    payload = item.get(name)
    if others or not isinstance(payload, Mapping):
        raise InvalidParams(
            f"invalid params, {where} of type {name} must hold exactly one {name} object "
            f'{{"url": ...}}'
        )
    url = payload.get("url")
    if not isinstance(url, str) or not url:
        raise InvalidParams(f"invalid params, {where}.{name}.url must be a non-empty string")
    role = item.get("role")
    if role is None:
        role = ROLES[kind][0]
    elif role not in ROLES[kind]:
        raise InvalidParams(
            f"invalid params, {where} ({name}) takes role {' or '.join(ROLES[kind])}, not {role!r}"
        )
    return index, kind, role, url


def _mode(roled: list[tuple[int, MediaKind, str, str]]) -> Mode:
    counts: dict[str, int] = {}
    for _, _, role, _ in roled:
        counts[role] = counts.get(role, 0) + 1
    for role, count in counts.items():
        if count > MAX_COUNT[role]:
            raise InvalidParams(
                f"invalid params, content has {count} items of role {role}; at most "
                f"{MAX_COUNT[role]}"
            )
    frames = counts.get("first_frame", 0) + counts.get("last_frame", 0)
    references = sum(n for role, n in counts.items() if role.startswith("reference_"))
    if frames and references:
        raise InvalidParams(
            "invalid params, frame roles (first_frame, last_frame) and reference roles "
            "cannot be mixed in one request"
        )
    if references > MAX_REFERENCES:
        raise InvalidParams(
            f"invalid params, content has {references} reference files; at most {MAX_REFERENCES}"
        )
    if references and references == counts.get("reference_audio", 0):
        raise InvalidParams(
            "invalid params, reference audio needs a reference image or video next to it"
        )
    if references:
        return Mode.R2V
    if "first_frame" in counts:
        return Mode.FL2V if "last_frame" in counts else Mode.I2V
    return Mode.LF2V if "last_frame" in counts else Mode.T2V


def _ratio(value: Any, mode: Mode, default: str | None) -> str:
    if value is not None and value not in RATIOS:
        raise InvalidParams(f"invalid params, ratio must be one of: {', '.join(RATIOS)}")
    if mode is Mode.T2V:
        if value is None or value == ADAPTIVE:
            raise InvalidParams(
                "invalid params, text to video needs a ratio other than adaptive: one of "
                f"{', '.join(RATIOS[1:])}"
            )
        return str(value)
    if mode is Mode.R2V:
        return str(value) if value is not None else ADAPTIVE
    return default or ADAPTIVE  # frames: always adaptive; another value is ignored


def _options(body: Mapping[str, Any], model: VideoModel) -> dict[str, Any]:
    options: dict[str, Any] = {}
    watermark = body.get("aigc_watermark")
    if watermark is not None:
        if not isinstance(watermark, bool):
            raise InvalidParams("invalid params, aigc_watermark must be true or false")
        options["aigc_watermark"] = watermark
    extra = body.get("extra")
    if extra is None:
        return options
    if not model.prompt_expansion:
        raise InvalidParams(f"invalid params, extra is not accepted by {model.name}")
    if not isinstance(extra, Mapping) or set(extra) - {"prompt_expansion_mode"}:
        raise InvalidParams("invalid params, extra may hold only prompt_expansion_mode")
    mode = extra.get("prompt_expansion_mode")
    if mode is not None and mode not in EXPANSION_MODES:
        raise InvalidParams(
            f"invalid params, extra.prompt_expansion_mode must be one of: "
            f"{', '.join(EXPANSION_MODES)}"
        )
    options["extra"] = dict(extra)
    return options


def _callback_url(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise InvalidParams("invalid params, callback_url must be an http(s) URL")
    parse_web_url(value, "callback_url")
    return value


def wire_role(medium: Media) -> str:
    """A medium's role as v2 writes it (the provider's and the sandbox's way back)."""
    if medium.role is Role.REFERENCE:
        return f"reference_{medium.kind.value}"
    return medium.role.value
