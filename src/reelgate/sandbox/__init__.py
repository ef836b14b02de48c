"""The sandbox: an offline MiniMax v1 emulator that renders real MP4 videos on the CPU."""
