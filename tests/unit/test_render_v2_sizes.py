"""MiniMax v2 render geometry, frame counts and request rules (pure: nothing is drawn)."""

from __future__ import annotations

import math

import pytest

from reelgate.sandbox.render.request import (
    MAX_REFERENCE_AUDIO,
    MAX_REFERENCE_IMAGES,
    MAX_REFERENCE_VIDEOS,
    RenderRequest,
    seed_of,
    validate,
)
from reelgate.sandbox.render.sizes import v2_frame_count, v2_output_size, v2_ratio

# Reference section 5.3 (768P, 2K) and docs/renderer.md (480P, the sandbox's choice).
SIZES = {
    "768P": {"16:9": (1344, 768), "9:16": (768, 1344), "1:1": (768, 768),
             "4:3": (1024, 768), "3:4": (768, 1024), "21:9": (1536, 672)},
    "2K": {"16:9": (2560, 1440), "9:16": (1440, 2560), "1:1": (2048, 2048),
           "4:3": (2048, 1536), "3:4": (1536, 2048), "21:9": (2560, 1080)},
    "480P": {"16:9": (848, 480), "9:16": (480, 848), "1:1": (480, 480),
             "4:3": (640, 480), "3:4": (480, 640), "21:9": (976, 416)},
}  # fmt: skip
RATIO = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0, "4:3": 4 / 3, "3:4": 3 / 4, "21:9": 21 / 9}
IMAGE = b"\x89PNG not decoded by validate"


@pytest.mark.parametrize(
    ("resolution", "ratio"), [(r, q) for r, table in SIZES.items() for q in table]
)
def test_v2_sizes_per_resolution_and_ratio(resolution: str, ratio: str) -> None:
    width, height = v2_output_size(resolution, ratio)
    assert (width, height) == SIZES[resolution][ratio]
    assert (width % 16 == 0 and height % 16 == 0) or resolution == "2K"  # 2K 21:9 is 1080 high
    assert width % 2 == 0 and height % 2 == 0
    assert abs(math.log(width / height / RATIO[ratio])) < 0.1  # the shape asked for


def test_768p_keeps_within_minimax_grid() -> None:
    # Reference 5.3: sides multiples of 32, area at most 768 x 1344.
    for width, height in SIZES["768P"].values():
        assert width % 32 == 0 and height % 32 == 0
        assert width * height <= 768 * 1344


def test_480p_is_768p_rule_scaled() -> None:
    # The sandbox's 480P choice: short side 480 where the area allows, no size larger than
    # 16:9's 848 x 480.
    for ratio, (width, height) in SIZES["480P"].items():
        assert width * height <= 848 * 480
        if ratio != "21:9":
            assert min(width, height) == 480


def test_resolution_spelling_and_unknowns() -> None:
    assert v2_output_size(" 768p ", "16:9") == (1344, 768)
    with pytest.raises(ValueError, match="unknown v2 resolution"):
        v2_output_size("1080P", "16:9")
    with pytest.raises(ValueError, match="unknown ratio"):
        v2_output_size("768P", "2:1")


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (None, "16:9"),  # no image: the default
        ((1920, 1080), "16:9"),
        ((1080, 1920), "9:16"),
        ((600, 1000), "9:16"),  # 0.6 is nearer 9:16 (0.5625) than 3:4 on a log scale
        ((1000, 1000), "1:1"),
        # the boundary between 1:1 and 4:3 is sqrt(4/3) = 1.1547
        ((1154, 1000), "1:1"),
        ((1155, 1000), "4:3"),
        # between 16:9 and 21:9: sqrt(16/9 * 21/9) = 2.0367
        ((2036, 1000), "16:9"),
        ((2037, 1000), "21:9"),
        ((2500, 1000), "21:9"),  # the widest image MiniMax accepts
    ],
)
def test_adaptive_follows_the_image(size: tuple[int, int] | None, expected: str) -> None:
    assert v2_ratio("adaptive", size) == expected
    assert v2_output_size("768P", "adaptive", size) == SIZES["768P"][expected]


def test_explicit_ratio_wins_over_the_image() -> None:
    assert v2_ratio("1:1", (1920, 1080)) == "1:1"
    with pytest.raises(ValueError, match="invalid image size"):
        v2_ratio("adaptive", (0, 100))


@pytest.mark.parametrize(
    ("duration", "frames"),
    [(1, 107), (4, 107), (5, 124), (6, 158), (10, 243), (14, 345), (15, 362), (16, 362)],
)
def test_frame_count_table(duration: int, frames: int) -> None:
    assert v2_frame_count(duration) == frames


@pytest.mark.parametrize("duration", range(4, 16))
def test_frame_count_is_the_smallest_17n_plus_5_covering_the_duration(duration: int) -> None:
    frames = v2_frame_count(duration)
    assert (frames - 5) % 17 == 0
    assert frames >= 24 * duration
    assert frames - 17 < 24 * duration or frames == 107  # smallest (107 is the floor)
    assert 107 <= frames <= 362


def test_v2_request_frames_and_audio_v1_unchanged() -> None:
    assert RenderRequest("t2v", "x", 64, 64, 6, api="v2").frame_count == 158
    assert RenderRequest("t2v", "x", 64, 64, 6, api="v2").has_audio
    assert RenderRequest("t2v", "x", 64, 64, 6).frame_count == 144
    assert not RenderRequest("t2v", "x", 64, 64, 6).has_audio


def test_v1_seed_is_the_one_it_always_was() -> None:
    # A v1 render's bytes depend on its seed: adding v2's fields must not change it.
    req = RenderRequest("i2v", "a fox", 320, 180, 2, first_frame=IMAGE)
    legacy = seed_of("i2v", "a fox", 320, 180, 2, IMAGE, None, None, "reelgate sandbox")
    assert req.seed() == legacy


def test_v2_seed_covers_every_field() -> None:
    base = RenderRequest("r2v", "p", 64, 64, 4, api="v2", references=(b"a", b"b"))
    variants = [
        RenderRequest("t2v", "p", 64, 64, 4, api="v2"),
        RenderRequest(
            "r2v", "p", 64, 64, 4, api="v2", references=(b"a",), reference_videos=(b"b",)
        ),
        RenderRequest("r2v", "p", 64, 64, 4, api="v2", references=(b"b", b"a")),
        RenderRequest("r2v", "p", 64, 64, 4, api="v2", references=(b"a", b"b"),
                      reference_audio=(b"c",)),
        RenderRequest("r2v", "p", 64, 64, 5, api="v2", references=(b"a", b"b")),
    ]  # fmt: skip
    seeds = {base.seed(), *(v.seed() for v in variants)}
    assert len(seeds) == len(variants) + 1
    assert RenderRequest("t2v", "p", 64, 64, 4, api="v2").seed() != (
        RenderRequest("t2v", "p", 64, 64, 4).seed()
    )


def _v2(mode: str = "t2v", duration: int = 4, **fields: object) -> RenderRequest:
    return RenderRequest(mode, "p", 64, 64, duration, api="v2", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("duration", "ok"), [(3, False), (4, True), (15, True), (16, False)])
def test_v2_duration_bounds(duration: int, ok: bool) -> None:
    if ok:
        validate(_v2(duration=duration))
    else:
        with pytest.raises(ValueError, match=r"v2 duration must be 4\.\.15"):
            validate(_v2(duration=duration))


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("references", MAX_REFERENCE_IMAGES),
        ("reference_videos", MAX_REFERENCE_VIDEOS),
        ("reference_audio", MAX_REFERENCE_AUDIO),
    ],
)
def test_reference_counts(field: str, limit: int) -> None:
    extra = {} if field != "reference_audio" else {"references": (IMAGE,)}
    validate(_v2("r2v", **extra, **{field: (IMAGE,) * limit}))
    with pytest.raises(ValueError, match=f"at most {limit}"):
        validate(_v2("r2v", **extra, **{field: (IMAGE,) * (limit + 1)}))


def test_modes_belong_to_their_api() -> None:
    with pytest.raises(ValueError, match="unknown v2 mode 's2v'"):
        validate(_v2("s2v", subject=IMAGE))
    for mode in ("l2v", "r2v"):
        with pytest.raises(ValueError, match=f"unknown v1 mode '{mode}'"):
            validate(RenderRequest(mode, "p", 64, 64, 4))
    with pytest.raises(ValueError, match="unknown api"):
        validate(RenderRequest("t2v", "p", 64, 64, 4, api="v3"))


def test_references_only_in_r2v_and_never_audio_alone() -> None:
    with pytest.raises(ValueError, match="references are for v2's r2v"):
        validate(RenderRequest("t2v", "p", 64, 64, 4, references=(IMAGE,)))
    with pytest.raises(ValueError, match="references are for v2's r2v"):
        validate(_v2("i2v", first_frame=IMAGE, reference_audio=(IMAGE,)))
    with pytest.raises(ValueError, match="audio alone"):
        validate(_v2("r2v", reference_audio=(IMAGE,)))
    validate(_v2("r2v", reference_videos=(IMAGE,)))
