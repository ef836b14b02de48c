"""The HTTP edge: MiniMax-compatible routes, files, health. Thin: parse, call a service, shape."""
