"""Camera command parsing and the pose timeline (pure, no video)."""

from __future__ import annotations

import math

import pytest

from reelgate.sandbox.render import COMMANDS, parse_camera
from reelgate.sandbox.render.camera import (
    PAN,
    PUSH,
    CameraPose,
    build_timeline,
)

ALL_FORMS = [
    ("Truck left", "左移", "truck_left"),
    ("Truck right", "右移", "truck_right"),
    ("Pan left", "左摇", "pan_left"),
    ("Pan right", "右摇", "pan_right"),
    ("Push in", "推进", "push_in"),
    ("Pull out", "拉远", "pull_out"),
    ("Pedestal up", "上升", "pedestal_up"),
    ("Pedestal down", "下降", "pedestal_down"),
    ("Tilt up", "上摇", "tilt_up"),
    ("Tilt down", "下摇", "tilt_down"),
    ("Zoom in", "变焦推近", "zoom_in"),
    ("Zoom out", "变焦拉远", "zoom_out"),
    ("Shake", "晃动", "shake"),
    ("Tracking shot", "跟随", "tracking"),
    ("Static shot", "固定", "static"),
]


def test_fifteen_commands() -> None:
    assert len(ALL_FORMS) == 15
    assert {name for _, _, name in ALL_FORMS} == COMMANDS


@pytest.mark.parametrize(("english", "chinese", "name"), ALL_FORMS)
def test_english_form(english: str, chinese: str, name: str) -> None:
    assert parse_camera(f"A scene [{english}].") == [[name]]


@pytest.mark.parametrize(("english", "chinese", "name"), ALL_FORMS)
def test_chinese_form(english: str, chinese: str, name: str) -> None:
    assert parse_camera(f"一个场景[{chinese}]。") == [[name]]


@pytest.mark.parametrize(
    "text",
    ["pan left", "PAN LEFT", "Pan Left", "pAn lEfT", "  pan   left  ", "pan\u3000left", "pan_left"],
)
def test_english_is_case_and_space_tolerant(text: str) -> None:
    assert parse_camera(f"x [{text}]") == [["pan_left"]]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        # The brief's example.
        ("A man [Pan left, Pedestal up] then [固定]", [["pan_left", "pedestal_up"], ["static"]]),
        # The official MiniMax example.
        (
            "A man picks up a book [Pedestal up], then reads [Static shot].",
            [["pedestal_up"], ["static"]],
        ),
        # Separators: ASCII, full-width, Chinese enumeration comma, spaces around them.
        ("[Pan left,Pedestal up]", [["pan_left", "pedestal_up"]]),
        ("[Pan left ,  Pedestal up , Zoom in]", [["pan_left", "pedestal_up", "zoom_in"]]),
        ("[左摇，上升]", [["pan_left", "pedestal_up"]]),
        ("[左摇 ， 上升]", [["pan_left", "pedestal_up"]]),
        ("[左摇、上升]", [["pan_left", "pedestal_up"]]),
        ("[Pan left，上升]", [["pan_left", "pedestal_up"]]),
        # Sequences keep prompt order.
        (
            "[Pan left] walks [Pan right] stops [Zoom in]",
            [["pan_left"], ["pan_right"], ["zoom_in"]],
        ),
        ("[推进]然后[拉远]", [["push_in"], ["pull_out"]]),
        # Full-width brackets from a Chinese keyboard.
        ("【左移】", [["truck_left"]]),
        # A command repeated in one bracket counts once.
        ("[Shake, shake]", [["shake"]]),
    ],
)
def test_groups_and_sequences(prompt: str, expected: list[list[str]]) -> None:
    assert parse_camera(prompt) == expected


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("no brackets at all", []),
        ("", []),
        ("[dramatic lighting]", []),
        ("[Pan leftish]", []),
        ("[Pan left, dramatic, Zoom in]", [["pan_left", "zoom_in"]]),
        ("[note] then [Tilt down] [4k]", [["tilt_down"]]),
        ("[]", []),
        ("unclosed [Pan left", []),
        ("[Pan [Zoom in] left]", [["zoom_in"]]),
    ],
)
def test_unknown_text_is_ignored(prompt: str, expected: list[list[str]]) -> None:
    assert parse_camera(prompt) == expected


def _timeline(prompt: str, **kwargs: bool) -> list[CameraPose]:
    timeline = build_timeline(parse_camera(prompt), duration=6, seed=1, **kwargs)
    return [timeline.pose_at(i / 100) for i in range(101)]


def test_every_move_starts_at_rest() -> None:
    for _, _, name in ALL_FORMS:
        poses = _timeline(f"[{name.replace('_', ' ')}]")
        assert poses[0] == CameraPose(), name


def test_sequence_splits_duration_evenly() -> None:
    poses = _timeline("[Pan left] [Pan right]")
    # Half way the first move is complete and the second has not started.
    assert poses[50].pan == pytest.approx(-PAN)
    assert poses[25].pan == pytest.approx(-PAN / 2)
    assert poses[100].pan == pytest.approx(0.0)


def test_group_moves_together() -> None:
    poses = _timeline("[Pan left, Pedestal up]")
    assert poses[50].pan < 0 < poses[50].pedestal
    assert poses[100].pan == pytest.approx(-PAN)


def test_static_holds_the_previous_pose() -> None:
    poses = _timeline("[Push in] [Static shot]")
    assert poses[50].push == pytest.approx(PUSH)
    assert all(p.push == pytest.approx(PUSH) for p in poses[50:])


def test_shake_returns_to_rest() -> None:
    poses = _timeline("[Shake]")
    xs = [p.shake_x for p in poses]
    assert max(abs(x) for x in xs) > 0.003
    assert abs(xs[-1]) < 1e-9
    assert abs(sum(xs) / len(xs)) < 0.003


def test_no_bracket_is_a_gentle_push_or_static() -> None:
    gentle = _timeline("a cat")
    assert 0 < gentle[-1].push < PUSH / 2
    assert _timeline("a cat", gentle_default=False)[-1] == CameraPose()


def test_round_trip_ends_where_it_started() -> None:
    poses = _timeline("[Truck left]", round_trip=True)
    assert poses[0] == CameraPose()
    assert math.isclose(poses[-1].truck, 0.0, abs_tol=1e-12)
    assert min(p.truck for p in poses) < -0.02


def test_timeline_is_deterministic() -> None:
    a = build_timeline([["shake"]], duration=6, seed=42)
    b = build_timeline([["shake"]], duration=6, seed=42)
    assert a == b
    assert a.pose_at(0.3) == b.pose_at(0.3)
