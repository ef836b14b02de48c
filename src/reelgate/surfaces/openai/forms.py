"""The create body as the handlers read it: a multipart (or urlencoded) form's fields, its
files read as :class:`~.requests.Upload`, or JSON; and what identifies a form for
``Idempotency-Key``. Shared with the sandbox (starlette only, no services).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request

from reelgate.surfaces.openai.requests import BadParam, Upload
from reelgate.wire import json_body

_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
MAX_FORM_FILES = 2
MAX_FORM_FIELDS = 16
MAX_FORM_PART = 64 * 1024 * 1024  # a data URI in a text field; the body limit bounds it too


def is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith(_FORM_TYPES)


async def create_body(request: Request) -> Any:
    """The create body: a form's fields (its files read, as :class:`Upload`), or JSON."""
    await request.body()  # kept: the idempotency check may read it again
    if not is_form(request):
        return await json_body(request)
    fields: dict[str, Any] = {}
    async with request.form(
        max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FORM_PART
    ) as form:
        for name, value in form.multi_items():
            if name in fields:
                raise BadParam(name, f"'{name}' was sent more than once.")
            if isinstance(value, UploadFile):
                data = await value.read()
                fields[name] = Upload(value.filename or "", value.content_type or "", data)
            else:
                fields[name] = value
    return fields


def identity(fields: dict[str, Any]) -> bytes:
    """What identifies a form for ``Idempotency-Key``: its fields and its files' digests,
    not its bytes, whose boundary the SDK draws anew on every retry."""
    items = sorted(
        (
            name,
            {"type": v.content_type, "sha256": hashlib.sha256(v.data).hexdigest()}
            if isinstance(v, Upload)
            else v,
        )
        for name, v in fields.items()
    )
    return orjson.dumps(items)
