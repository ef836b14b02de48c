"""The soundtrack of a v2 clip: a short melody over a chord pad, written by the prompt.

MiniMax's v2 videos always carry a stereo AAC track (reference section 5.3).  The sandbox
cannot voice a scene, so it plays something a person can hear and tell apart: each word
of the prompt picks a note of a minor pentatonic scale, its length and its place in the
stereo field (from a SHA-256 of the word, so the same prompt always plays the same tune);
the seed picks the key and the tempo; a soft three-note chord changes every bar.  Notes
have an attack and a decay, and the clip fades in and out, so nothing clicks.

Reference audio (WAV or MP3 bytes) is decoded, resampled to the track's rate and played
from the first second, one clip after another, over the tune turned down; a clip that
cannot be decoded is skipped, so the render still has the generated sound.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
import re
from dataclasses import dataclass

import av
import numpy as np
from numpy.typing import NDArray

from .sizes import FPS

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

# 32 kHz stereo, as MiniMax's H3 outputs (reference section 5.3).
AUDIO_RATE = 32000
CHANNELS = 2
_PENTATONIC = (0, 3, 5, 7, 10)  # minor pentatonic, semitones above the key
_PROGRESSION = (0, 8, 3, 10)  # i, VI, III, VII in a minor key: a loop that never ends odd
_MELODY_LEVEL = 0.30
_PAD_LEVEL = 0.07
_DUCKED = 0.3  # the tune's level under reference audio
_PEAK = 0.9  # output never louder than this (no clipping in the AAC encoder)
_EDGE_S = 0.05  # fade in and out at the clip's ends
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class AudioTrack:
    """Planar float samples, shape (CHANNELS, n), in -1..1, at `rate` Hz."""

    samples: F32
    rate: int = AUDIO_RATE

    @property
    def seconds(self) -> float:
        return int(self.samples.shape[1]) / self.rate


@dataclass(frozen=True, slots=True)
class _Note:
    start: float  # seconds
    length: float  # seconds
    midi: int
    pan: float  # -1 left .. 1 right


def sample_count(frames: int, rate: int = AUDIO_RATE) -> int:
    """Samples that last as long as `frames` video frames (rounded to the nearest)."""
    return round(frames * rate / FPS)


def _hz(midi: int) -> float:
    return 440.0 * math.pow(2.0, (midi - 69) / 12)


def _melody(prompt: str, rng: random.Random, seconds: float, key: int) -> list[_Note]:
    words = _WORD.findall(prompt.casefold()) or ["reelgate"]
    beat = 60.0 / rng.randint(84, 124)
    notes: list[_Note] = []
    start, index = 0.0, 0
    while start < seconds:
        digest = hashlib.sha256(words[index % len(words)].encode()).digest()
        degree = digest[0] % (2 * len(_PENTATONIC))  # two octaves
        octave, step = divmod(degree, len(_PENTATONIC))
        length = beat * (1, 1, 2, 0.5)[digest[1] % 4]
        pan = (digest[2] / 255.0) * 1.2 - 0.6
        notes.append(_Note(start, length, key + 12 * (octave + 1) + _PENTATONIC[step], pan))
        start += length
        index += 1
    return notes


def _tone(hz: float, count: int, rate: int) -> F64:
    """A soft, slightly bright tone: a sine with two quieter harmonics."""
    phase = 2.0 * math.pi * hz * np.arange(count, dtype=np.float64) / rate
    return np.sin(phase) + 0.3 * np.sin(2 * phase) + 0.12 * np.sin(3 * phase)


def _envelope(count: int, rate: int, attack_s: float, decay: float) -> F64:
    t = np.arange(count, dtype=np.float64) / rate
    attack = np.minimum(t / attack_s, 1.0)
    release = np.minimum((count - np.arange(count)) / (0.03 * rate), 1.0)
    return attack * np.exp(-decay * t) * release


def _add_notes(out: F64, notes: list[_Note], rate: int) -> None:
    total = out.shape[1]
    for note in notes:
        first = int(note.start * rate)
        count = min(int(note.length * 1.6 * rate), total - first)  # rings past its beat
        if count <= 0:
            continue
        wave = _tone(_hz(note.midi), count, rate) * _envelope(count, rate, 0.01, 3.0)
        angle = (note.pan + 1.0) * math.pi / 4  # equal-power pan
        out[0, first : first + count] += _MELODY_LEVEL * math.cos(angle) * wave
        out[1, first : first + count] += _MELODY_LEVEL * math.sin(angle) * wave


def _add_pad(out: F64, key: int, bar_s: float, rate: int) -> None:
    total = out.shape[1]
    bar = 0
    while bar * bar_s * rate < total:
        first = int(bar * bar_s * rate)
        count = min(int(bar_s * rate), total - first)
        root = key + _PROGRESSION[bar % len(_PROGRESSION)]
        chord = sum(_tone(_hz(root + step), count, rate) for step in (0, 3, 7))
        wave = _PAD_LEVEL * chord * _envelope(count, rate, 0.3, 0.4)
        out[:, first : first + count] += wave
        bar += 1


def _fade_edges(out: F64, rate: int) -> None:
    edge = min(int(_EDGE_S * rate), out.shape[1] // 2)
    if edge:
        ramp = np.linspace(0.0, 1.0, edge)
        out[:, :edge] *= ramp
        out[:, out.shape[1] - edge :] *= ramp[::-1]


def synthesise(prompt: str, seed: int, count: int, rate: int = AUDIO_RATE) -> F64:
    """The generated tune: (CHANNELS, count) float64 samples."""
    rng = random.Random(seed)
    key = 45 + rng.randrange(12)  # A2..G#3
    out = np.zeros((CHANNELS, count), dtype=np.float64)
    notes = _melody(prompt, rng, count / rate, key)
    _add_notes(out, notes, rate)
    beat = notes[0].length if notes else 0.5
    _add_pad(out, key, bar_s=max(beat, 0.25) * 4, rate=rate)
    return out


def decode_audio(data: bytes, max_samples: int, rate: int = AUDIO_RATE) -> F64 | None:
    """Decode WAV/MP3 (anything FFmpeg reads) to (CHANNELS, <= max_samples) at `rate`;
    None if the bytes hold no readable audio."""
    chunks: list[F64] = []
    have = 0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(np.asarray(out.to_ndarray(), dtype=np.float64))
                    have += chunks[-1].shape[1]
                if have >= max_samples:
                    break
    except (av.FFmpegError, ValueError, IndexError, OSError):
        return None
    if not chunks:
        return None
    return np.concatenate(chunks, axis=1)[:, :max_samples]


def _mix_references(out: F64, references: tuple[bytes, ...], rate: int) -> None:
    position = 0
    total = out.shape[1]
    for data in references:
        if position >= total:
            break
        clip = decode_audio(data, total - position, rate)
        if clip is None:
            continue
        end = position + clip.shape[1]
        duck = np.ones(total, dtype=np.float64)
        duck[position:end] = _DUCKED
        out *= duck
        out[:, position:end] += clip
        position = end


def soundtrack(
    prompt: str, seed: int, frames: int, references: tuple[bytes, ...] = ()
) -> AudioTrack:
    """The audio of a clip of `frames` video frames: the tune, with `references` mixed in."""
    count = sample_count(frames)
    out = synthesise(prompt, seed, count)
    _mix_references(out, references, AUDIO_RATE)
    peak = float(np.max(np.abs(out))) if count else 0.0
    if peak > _PEAK:
        out *= _PEAK / peak
    _fade_edges(out, AUDIO_RATE)
    return AudioTrack(np.ascontiguousarray(out, dtype=np.float32))
