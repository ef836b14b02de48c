"""Camera commands: parse `[Pan left, Pedestal up]` brackets and turn them into a timeline.

Pure module (no NumPy, no I/O).  The renderer samples `CameraTimeline.pose_at(u)` once
per frame; `u` runs from 0 (first frame) to 1 (last frame).

Conventions, in *camera* terms (the renderer turns them into content motion):

- `truck` and `pan` are positive to the right, so `[Pan left]` makes the picture slide
  right in the frame;
- `pedestal` and `tilt` are positive upwards, so `[Pedestal up]` makes the picture slide
  down;
- `push` (dolly) and `zoom` are natural-log scale factors, positive towards the subject;
- `track` is how far the followed subject has walked to the right (fraction of width);
- `shake_x` and `shake_y` are a jitter offset, a fraction of the frame width.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

# The 15 MiniMax commands (reference section 1.4): spelling -> canonical name.
_COMMANDS: dict[str, str] = {
    "truck left": "truck_left",
    "左移": "truck_left",
    "truck right": "truck_right",
    "右移": "truck_right",
    "pan left": "pan_left",
    "左摇": "pan_left",
    "pan right": "pan_right",
    "右摇": "pan_right",
    "push in": "push_in",
    "推进": "push_in",
    "pull out": "pull_out",
    "拉远": "pull_out",
    "pedestal up": "pedestal_up",
    "上升": "pedestal_up",
    "pedestal down": "pedestal_down",
    "下降": "pedestal_down",
    "tilt up": "tilt_up",
    "上摇": "tilt_up",
    "tilt down": "tilt_down",
    "下摇": "tilt_down",
    "zoom in": "zoom_in",
    "变焦推近": "zoom_in",
    "zoom out": "zoom_out",
    "变焦拉远": "zoom_out",
    "shake": "shake",
    "晃动": "shake",
    "tracking shot": "tracking",
    "跟随": "tracking",
    "static shot": "static",
    "固定": "static",
    # Short forms people type; harmless because they cannot mean anything else.
    "tracking": "tracking",
    "static": "static",
}

COMMANDS: frozenset[str] = frozenset(_COMMANDS.values())

# Square brackets, plus the full-width 【】 a Chinese keyboard produces.
_BRACKET = re.compile(r"[\[【]([^\[\]【】]*)[\]】]")
# ASCII comma, full-width comma and the Chinese enumeration comma.
_SEPARATOR = re.compile(r"[,，、]")

# How far one segment moves the camera.  Chosen so a move is obvious in a 6 s clip but a
# handful of segments in a row still fit in the canvas margin (see compose.py).
TRUCK = 0.12  # of frame width
PAN = 0.12  # of frame width
PEDESTAL = 0.10  # of frame height
TILT = 0.10  # of frame height
PUSH = math.log(1.3)  # 1.3x closer per segment
ZOOM = math.log(1.3)
TRACK = 0.25  # of frame width the subject walks
SHAKE = 0.012  # jitter amplitude, of frame width
GENTLE = 0.3  # scale of the default motion when the prompt has no bracket
ROUND_TRIP = 0.5  # amplitude of an fl2v out-and-back camera move

_MOVES: dict[str, tuple[str, float]] = {
    "truck_left": ("truck", -TRUCK),
    "truck_right": ("truck", TRUCK),
    "pan_left": ("pan", -PAN),
    "pan_right": ("pan", PAN),
    "push_in": ("push", PUSH),
    "pull_out": ("push", -PUSH),
    "pedestal_up": ("pedestal", PEDESTAL),
    "pedestal_down": ("pedestal", -PEDESTAL),
    "tilt_up": ("tilt", TILT),
    "tilt_down": ("tilt", -TILT),
    "zoom_in": ("zoom", ZOOM),
    "zoom_out": ("zoom", -ZOOM),
    "tracking": ("track", TRACK),
}
_AXES = ("truck", "pedestal", "pan", "tilt", "push", "zoom", "track")
# Shake is a sum of incommensurate sines (Hz) so it does not look like a wobble.
_SHAKE_HZ = ((2.3, 0.5), (3.7, 0.3), (6.1, 0.2))


def _normalise(text: str) -> str:
    """Lower-case, treat `_`/`-` as spaces and collapse all whitespace (incl. U+3000)."""
    return " ".join(text.replace("_", " ").replace("-", " ").split()).casefold()


def parse_camera(prompt: str) -> list[list[str]]:
    """Return the camera commands of `prompt`, one list per bracket, in prompt order.

    >>> parse_camera("A man [Pan left, Pedestal up] then [固定]")
    [['pan_left', 'pedestal_up'], ['static']]

    Unknown words inside a bracket are dropped; a bracket with no known command (plain
    `[note]` text) is not a group at all.
    """
    groups: list[list[str]] = []
    for match in _BRACKET.finditer(prompt):
        group: list[str] = []
        for part in _SEPARATOR.split(match.group(1)):
            name = _COMMANDS.get(_normalise(part))
            if name is not None and name not in group:
                group.append(name)
        if group:
            groups.append(group)
    return groups


@dataclass(frozen=True, slots=True)
class CameraPose:
    """Where the camera is at one instant, relative to where it started."""

    truck: float = 0.0
    pedestal: float = 0.0
    pan: float = 0.0
    tilt: float = 0.0
    push: float = 0.0
    zoom: float = 0.0
    track: float = 0.0
    shake_x: float = 0.0
    shake_y: float = 0.0


@dataclass(frozen=True, slots=True)
class Segment:
    """One bracket group: the axis deltas it applies and its shake amplitude."""

    deltas: tuple[tuple[str, float], ...]
    shake: float = 0.0


def _segment(names: Sequence[str], scale: float) -> Segment:
    totals: dict[str, float] = {}
    for name in names:
        move = _MOVES.get(name)
        if move is not None:
            axis, amount = move
            totals[axis] = totals.get(axis, 0.0) + amount * scale
    shake = SHAKE * scale if "shake" in names else 0.0
    return Segment(tuple(totals.items()), shake)


def _smoothstep(u: float) -> float:
    # Ease in and out, so a sequence of moves joins without a jolt.
    return u * u * (3.0 - 2.0 * u)


@dataclass(frozen=True, slots=True)
class CameraTimeline:
    """Camera moves split evenly over the clip, one segment per bracket group."""

    segments: tuple[Segment, ...]
    duration: float
    round_trip: bool = False
    shake_phases: tuple[float, ...] = field(default=(0.0,) * 6)

    def pose_at(self, u: float) -> CameraPose:
        """Return the pose at normalised time `u` in [0, 1]."""
        u = min(max(u, 0.0), 1.0)
        if not self.segments:
            return CameraPose()
        count = len(self.segments)
        index = min(int(u * count), count - 1)
        local = u * count - index
        axes = dict.fromkeys(_AXES, 0.0)
        for done in self.segments[:index]:
            for axis, amount in done.deltas:
                axes[axis] += amount
        current = self.segments[index]
        eased = _smoothstep(local)
        for axis, amount in current.deltas:
            axes[axis] += amount * eased
        shake_x = shake_y = 0.0
        if current.shake:
            # sin(pi * local) fades the jitter in and out, so each shake segment starts
            # and ends where the camera would be without it.
            envelope = current.shake * math.sin(math.pi * local)
            seconds = u * self.duration
            shake_x = envelope * self._jitter(seconds, 0)
            shake_y = envelope * self._jitter(seconds, 3)
        scale = math.sin(math.pi * u) if self.round_trip else 1.0
        return CameraPose(
            **{axis: value * scale for axis, value in axes.items()},
            shake_x=shake_x * scale,
            shake_y=shake_y * scale,
        )

    def _jitter(self, seconds: float, offset: int) -> float:
        return sum(
            weight * math.sin(2 * math.pi * hz * seconds + self.shake_phases[offset + i])
            for i, (hz, weight) in enumerate(_SHAKE_HZ)
        )

    @property
    def uses_tracking(self) -> bool:
        """Whether any segment follows a subject."""
        return any(axis == "track" for seg in self.segments for axis, _ in seg.deltas)


def build_timeline(
    groups: Sequence[Sequence[str]],
    *,
    duration: float,
    seed: int,
    gentle_default: bool = True,
    round_trip: bool = False,
) -> CameraTimeline:
    """Turn parsed groups into a timeline.

    No group means a gentle push in (`GENTLE` of a normal one, about 1.08x over the clip)
    when `gentle_default`, else a static camera.  `round_trip` (used by fl2v) plays every
    move at half amplitude as an out-and-back excursion, so the first and last frames sit
    exactly on the given images.
    """
    scale = ROUND_TRIP if round_trip else 1.0
    if groups:
        segments = tuple(_segment(group, scale) for group in groups)
    elif gentle_default:
        segments = (_segment(["push_in"], GENTLE * scale),)
    else:
        segments = ()
    rng = random.Random(seed)
    phases = tuple(rng.uniform(0.0, 2 * math.pi) for _ in range(6))
    return CameraTimeline(segments, float(duration), round_trip, phases)
