"""The console's one way to create a task: ``submit`` builds the request the gateway's
task service takes from a playground form. When the service's signature changes (a
wire-independent request), only this module changes.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData, UploadFile

from reelgate.console.catalog import Selection, select
from reelgate.domain.accounts import ApiKey
from reelgate.domain.catalog import MAX_PROMPT_CHARS
from reelgate.domain.images import MAX_IMAGE_BYTES, in_decoder
from reelgate.domain.tasks import Task
from reelgate.errors import InvalidParams
from reelgate.surfaces.minimax_v1.requests import has_inline_image, parse_video_request

if TYPE_CHECKING:
    from reelgate.gateway import Gateway

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})


@dataclass(frozen=True, slots=True)
class Draft:
    """A playground form, read: a valid catalog choice, the prompt, the images."""

    selection: Selection
    prompt: str
    images: Mapping[str, str] = field(default_factory=dict)  # form field -> data URL
    prompt_optimizer: bool = True


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def selection_from(form: Mapping[str, Any]) -> Selection:
    return select(
        model=form.get("model"),
        mode=form.get("mode"),
        resolution=form.get("resolution"),
        duration=form.get("duration"),
        ratio=form.get("ratio"),
    )


async def read_draft(form: FormData) -> Draft:
    """The form as a draft; an image over the gateway's limit or of another type is refused."""
    selection = selection_from({k: _text(form, k) for k in form})
    prompt = (_text(form, "prompt") or "").strip()
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidParams(f"the prompt has more than {MAX_PROMPT_CHARS} characters")
    images: dict[str, str] = {}
    for name in selection.mode.images:
        upload = form.get(name)
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidParams(f"{selection.mode.label} needs an image: choose a file")
        images[name] = await _data_url(upload)
    return Draft(selection, prompt, images, _text(form, "prompt_optimizer") == "on")


async def _data_url(upload: UploadFile) -> str:
    kind = (upload.content_type or "").split(";")[0].strip().lower()
    if kind not in IMAGE_TYPES:
        raise InvalidParams("images must be PNG, JPEG or WebP")
    data = await upload.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidParams(f"an image may have at most {MAX_IMAGE_BYTES // 2**20} MB")
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def v1_body(draft: Draft) -> dict[str, Any]:
    """The MiniMax v1 create body for a draft: the images decide the mode there."""
    sel = draft.selection
    body: dict[str, Any] = {
        "model": sel.model.name,
        "prompt": draft.prompt,
        "resolution": sel.resolution,
        "duration": sel.duration,
        "prompt_optimizer": draft.prompt_optimizer,
    }
    if "first_frame" in draft.images:
        body["first_frame_image"] = draft.images["first_frame"]
    if "last_frame" in draft.images:
        body["last_frame_image"] = draft.images["last_frame"]
    if "subject" in draft.images:
        body["subject_reference"] = [{"type": "character", "image": [draft.images["subject"]]}]
    return body


async def submit(gw: Gateway, key: ApiKey, draft: Draft) -> Task:
    """Create the task as ``key``: validated, priced, reserved and sent like any API call.

    The draft goes through MiniMax v1's own parser, so the console refuses exactly what
    the API refuses, in the same words; an inline image is decoded off the event loop."""
    body = v1_body(draft)
    if has_inline_image(body):
        request = await in_decoder(parse_video_request, body)
    else:
        request = parse_video_request(body)
    return await gw.task_service.create(key, request)
