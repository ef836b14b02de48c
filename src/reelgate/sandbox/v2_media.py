"""A v2 create's media, read into bytes the renderer can use, and the render request
built back from a stored task.

Each medium comes one of three ways (reference section 3.2): a data URI (already decoded
and checked by the parse), a public URL (fetched here through the URL guard, as v1's
image URLs are, then checked against the same rules as an inline one), or an
``mm_file://<file id>`` id. The sandbox has no upload endpoint, so the only files it
knows are its own earlier outputs (MP4s with, on v2, a soundtrack): the caller's own
finished videos, usable as a reference video or, for their sound, a reference audio;
never as an image. Anything that cannot be read is a 2013 that says why.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from reelgate.domain.clips import AUDIO, MB, VIDEO, ClipInfo, decode_clip_uri, probe_clip
from reelgate.domain.images import V2_IMAGES, decode_data_url, in_decoder, inspect_image
from reelgate.domain.video import Media, MediaKind, Role, VideoRequest
from reelgate.errors import InvalidParams
from reelgate.sandbox.render import RenderRequest
from reelgate.sandbox.state import SandboxTask
from reelgate.sandbox.v2_view import RENDER_MODES
from reelgate.surfaces.minimax_v2.media import check_totals
from reelgate.urlguard import fetch

FILE_SCHEME = "mm_file://"
# where each input is kept in the task record (``inputs``), in the request's order
FIRST, LAST = "first", "last"
REFERENCE_PREFIX = {
    MediaKind.IMAGE: "ref-image-",
    MediaKind.VIDEO: "ref-video-",
    MediaKind.AUDIO: "ref-audio-",
}


@dataclass(frozen=True, slots=True)
class Input:
    key: str  # FIRST, LAST or a reference key, e.g. "ref-video-0"
    medium: Media  # with its size and length known, however it came
    data: bytes


# The caller's finished output with this file id, if there is one.
Outputs = Callable[[str], Path | None]


class MediaReader:
    def __init__(self, client: httpx.AsyncClient, *, allow_private: bool, outputs: Outputs) -> None:
        self._client = client
        self._allow_private = allow_private
        self._outputs = outputs

    async def read_all(self, request: VideoRequest, fields: list[str]) -> list[Input]:
        """Every medium of ``request`` (``fields`` name them as the body did), then the
        15-second totals again, now that fetched clips have a known length."""
        inputs = []
        counts: dict[MediaKind, int] = {}
        for medium, field in zip(request.media, fields, strict=True):
            if medium.role is Role.REFERENCE:
                n = counts[medium.kind] = counts.get(medium.kind, 0) + 1
                key = f"{REFERENCE_PREFIX[medium.kind]}{n - 1}"
            else:
                key = FIRST if medium.role is Role.FIRST_FRAME else LAST
            inputs.append(await self._read(key, medium, field))
        check_totals(tuple(i.medium for i in inputs))
        return inputs

    async def _read(self, key: str, medium: Media, field: str) -> Input:
        field = f"{field}.{medium.kind.value}_url.url"
        if medium.kind is MediaKind.IMAGE:
            if medium.is_inline:
                data = decode_data_url(medium.source, field, V2_IMAGES.max_bytes)
                return Input(key, medium, data)
            data = await self._fetch(medium, field, V2_IMAGES.max_bytes)
            info = await in_decoder(inspect_image, data, field, V2_IMAGES)
            sized = dataclasses.replace(medium, width=info.width, height=info.height)
            return Input(key, sized, data)
        rules = VIDEO if medium.kind is MediaKind.VIDEO else AUDIO
        if medium.is_inline:
            return Input(key, medium, decode_clip_uri(medium.source, field, rules))
        data = await self._fetch(medium, field, rules.max_bytes)
        if len(data) > rules.max_bytes:  # an earlier output, read whole
            limit = rules.max_bytes // MB
            raise InvalidParams(f"invalid params, {field} is larger than {limit} MB")
        clip: ClipInfo = await in_decoder(probe_clip, data, field, rules)
        measured = dataclasses.replace(
            medium, width=clip.width, height=clip.height, seconds=clip.seconds
        )
        return Input(key, measured, data)

    async def _fetch(self, medium: Media, field: str, max_bytes: int) -> bytes:
        if not medium.source.startswith(FILE_SCHEME):
            return await fetch(
                self._client, medium.source, allow_private=self._allow_private, max_bytes=max_bytes
            )
        file_id = medium.source.removeprefix(FILE_SCHEME)
        path = self._outputs(file_id)
        if path is None:
            raise InvalidParams(f"invalid params, {field}: file {file_id} not found")
        if medium.kind is MediaKind.IMAGE:
            raise InvalidParams(f"invalid params, {field}: file {file_id} is a video, not an image")
        return await asyncio.to_thread(path.read_bytes)


def lead_size(inputs: list[Input]) -> tuple[int, int] | None:
    """The size of the image the clip is built on: the first frame, else the last frame,
    else the first reference image (what ``adaptive`` follows)."""
    images = [i.medium for i in inputs if i.medium.kind is MediaKind.IMAGE]
    for role in (Role.FIRST_FRAME, Role.LAST_FRAME, Role.REFERENCE):
        medium = next((m for m in images if m.role is role), None)
        if medium is not None and medium.width and medium.height:
            return medium.width, medium.height
    return None


def render_request(task: SandboxTask, read: Callable[[str], bytes]) -> RenderRequest:
    """What to render for a stored v2 task; ``read`` gives an input's bytes by name."""

    def kept(prefix: str) -> tuple[bytes, ...]:
        return tuple(read(name) for key, name in task.inputs.items() if key.startswith(prefix))

    first, last = task.inputs.get(FIRST), task.inputs.get(LAST)
    return RenderRequest(
        mode=RENDER_MODES[task.mode],
        prompt=task.prompt,
        width=task.width,
        height=task.height,
        duration=task.duration,
        api="v2",
        first_frame=read(first) if first else None,
        last_frame=read(last) if last else None,
        references=kept(REFERENCE_PREFIX[MediaKind.IMAGE]),
        reference_videos=kept(REFERENCE_PREFIX[MediaKind.VIDEO]),
        reference_audio=kept(REFERENCE_PREFIX[MediaKind.AUDIO]),
    )
