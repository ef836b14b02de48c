"""Reading back an MP4 with PyAV, as a player would."""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction

import av


@dataclass(frozen=True)
class VideoProbe:
    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: Fraction
    frames: int
    faststart: bool  # the index (moov) comes before the media data (mdat)


def probe(data: bytes) -> VideoProbe:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        moov, mdat = data.find(b"moov"), data.find(b"mdat")
        return VideoProbe(
            codec=stream.codec_context.name,
            pix_fmt=stream.codec_context.pix_fmt,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=Fraction(stream.average_rate),
            frames=frames,
            faststart=0 <= moov < mdat,
        )
