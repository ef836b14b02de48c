"""The OpenAI-style videos API (``/v1/videos``), as the official ``openai`` SDK calls it,
over every model of the catalog (docs/openai.md).

Shared with the sandbox: ``sizes`` (the size table), ``requests`` (the create body into
the canonical request), ``wire`` (the error envelope, the statuses), ``schemas`` (the
wire's shapes), ``forms`` (reading a multipart body) and ``variants`` (the content
variants). The gateway's own: ``views`` (a task as a ``Video``), ``content`` (previews
from wherever the video is), ``routes`` and ``errors``. This ``__init__`` imports nothing,
so that the sandbox can import the shared modules without the services.
"""
