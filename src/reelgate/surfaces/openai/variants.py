"""The variants of ``GET /v1/videos/{id}/content``: the MP4, or a JPEG preview drawn
from it (``reelgate.media.previews``: a thumbnail, a sprite sheet). Shared with the
sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reelgate.surfaces.openai.requests import BadParam

VIDEO, THUMBNAIL, SPRITESHEET = "video", "thumbnail", "spritesheet"
VARIANTS = (VIDEO, THUMBNAIL, SPRITESHEET)
JPEG = "image/jpeg"


def variant(value: Any) -> str:
    """The variant asked for (``video`` when none), or a 400 naming the three."""
    if value is None or value == "":
        return VIDEO
    if value not in VARIANTS:
        raise BadParam(
            "variant", f"Invalid value for 'variant': {value!r}; one of {', '.join(VARIANTS)}."
        )
    return str(value)


def draw(name: str, path: Path) -> bytes:
    """The JPEG preview ``name`` of the MP4 at ``path``. CPU bound: run it on a thread.
    PyAV loads on the first preview, not when the server starts."""
    from reelgate.media import previews

    render = previews.thumbnail_jpeg if name == THUMBNAIL else previews.spritesheet_jpeg
    return render(path)
