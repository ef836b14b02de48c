"""reelgate: a self-hosted, MiniMax-compatible gateway for AI video generation."""

__version__ = "0.1.0"
