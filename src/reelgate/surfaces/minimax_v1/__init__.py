"""MiniMax's v1 video API, exactly as MiniMax serves it (``/minimaxi/v1/...``).

``requests`` (the create body into the canonical request) is pure and shared with the
sandbox; ``schemas`` holds the wire's shapes, used for the docs and the answers;
``routes`` the handlers; ``errors`` how an error reads on this wire. This ``__init__``
imports nothing, so that the sandbox can import ``requests`` without the services.
"""
