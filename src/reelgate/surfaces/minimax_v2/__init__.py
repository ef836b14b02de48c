"""MiniMax's v2 video API (MiniMax-H3), as MiniMax serves it (``/minimaxi/v2/...``).

``requests`` and ``media`` (the create body into the canonical request) are pure and
shared with the sandbox; this ``__init__`` imports nothing, for the same reason as v1's.
"""
