"""MiniMax v2's create body: every content rule of the reference (minimax-v2-api.md
sections 3 and 4), each limit at its boundary and one past it."""

from __future__ import annotations

import base64
import io
import wave
from fractions import Fraction
from functools import cache
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from reelgate.domain.catalog import Mode
from reelgate.domain.video import MediaKind, Role, VideoRequest
from reelgate.errors import InvalidParams
from reelgate.surfaces.minimax_v2.requests import has_inline_media, parse_v2_request

URL = "https://example.com/{}.png"


def text(prompt: str = "a red kite over a beach") -> dict[str, Any]:
    return {"type": "text", "text": prompt}


def image(url: str = URL.format("a"), role: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    if role is not None:
        item["role"] = role
    return item


def video(url: str = "https://example.com/v.mp4") -> dict[str, Any]:
    return {"type": "video_url", "video_url": {"url": url}, "role": "reference_video"}


def audio(url: str = "https://example.com/a.mp3") -> dict[str, Any]:
    return {"type": "audio_url", "audio_url": {"url": url}, "role": "reference_audio"}


def body(*items: dict[str, Any], **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"model": "MiniMax-H3", "duration": 6, "content": [text(), *items]}
    if not items:
        out["ratio"] = "16:9"
    out.update(fields)
    return out


def refusal(payload: Any) -> str:
    with pytest.raises(InvalidParams) as info:
        parse_v2_request(payload)
    assert info.value.code == 2013
    return info.value.message


def png(width: int, height: int) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@cache
def mp4(seconds: float, fps: int = 24, size: int = 256, codec: str = "libx264") -> str:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        if codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        for i in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(
                np.full((size, size, 3), i % 255, dtype=np.uint8), format="rgb24"
            )
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return "data:video/mp4;base64," + base64.b64encode(buf.getvalue()).decode()


@cache
def wav(seconds: float) -> str:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x10\x00" * int(8000 * seconds))
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode()


# -- what each mode parses to


def test_text_to_video_parses_to_the_canonical_request() -> None:
    req = parse_v2_request(body())
    assert isinstance(req, VideoRequest)
    assert (req.model, req.mode, req.duration, req.resolution, req.ratio) == (
        "MiniMax-H3",
        Mode.T2V,
        6,
        "768P",
        "16:9",
    )
    assert req.media == () and req.prompt == "a red kite over a beach"


@pytest.mark.parametrize(
    ("items", "mode", "roles"),
    [
        ([image()], Mode.I2V, [Role.FIRST_FRAME]),  # a lone image without a role
        ([image(role="first_frame")], Mode.I2V, [Role.FIRST_FRAME]),
        ([image(role="last_frame")], Mode.LF2V, [Role.LAST_FRAME]),
        (
            [image(role="first_frame"), image(URL.format("b"), "last_frame")],
            Mode.FL2V,
            [Role.FIRST_FRAME, Role.LAST_FRAME],
        ),
        ([image(role="reference_image")], Mode.R2V, [Role.REFERENCE]),
        ([video()], Mode.R2V, [Role.REFERENCE]),
        ([image(role="reference_image"), audio()], Mode.R2V, [Role.REFERENCE] * 2),
    ],
)
def test_the_media_pick_the_mode(
    items: list[dict[str, Any]], mode: Mode, roles: list[Role]
) -> None:
    req = parse_v2_request(body(*items))
    assert req.mode is mode
    assert [m.role for m in req.media] == roles


def test_frames_force_adaptive_and_references_default_to_it() -> None:
    assert parse_v2_request(body(image(), ratio="9:16")).ratio == "adaptive"
    assert parse_v2_request(body(video())).ratio == "adaptive"
    assert parse_v2_request(body(video(), ratio="9:16")).ratio == "9:16"


def test_the_kinds_of_media_are_kept() -> None:
    req = parse_v2_request(body(image(role="reference_image"), video(), audio()))
    assert [m.kind for m in req.media] == [MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.AUDIO]


# -- model, duration, resolution


def test_models_of_the_other_api_and_unknown_models() -> None:
    assert "v1 API" in refusal(body(model="MiniMax-Hailuo-2.3"))
    assert "unknown model 'H3-Lite'" in refusal(body(model="H3-Lite"))
    assert refusal(body(model=None)) == "invalid params, model is required"


@pytest.mark.parametrize(("model", "shortest"), [("MiniMax-H3", 4), ("MiniMax-H3-Max", 5)])
def test_durations_at_both_ends(model: str, shortest: int) -> None:
    resolution = "768P"
    for ok in (shortest, 15):
        assert (
            parse_v2_request(body(model=model, duration=ok, resolution=resolution)).duration == ok
        )
    for bad in (shortest - 1, 16, 6.0, True, "6"):
        assert "takes a duration" in refusal(body(model=model, duration=bad))
    assert "duration is required" in refusal(body(model=model, duration=None))


def test_resolutions_per_model() -> None:
    assert parse_v2_request(body(resolution="2K")).resolution == "2K"
    assert "allowed: 768P, 2K" in refusal(body(resolution="480P"))
    assert parse_v2_request(body(model="MiniMax-H3-Max", resolution="480P")).resolution == "480P"
    assert "allowed: 480P, 768P" in refusal(body(model="MiniMax-H3-Max", resolution="2K"))
    assert parse_v2_request(body(resolution=None)).resolution == "768P"  # the default


# -- the text item


def test_the_text_item_at_its_length_limit() -> None:
    assert len(parse_v2_request(body(content=[text("x" * 7000)])).prompt) == 7000
    assert "7001 characters; the limit is 7000" in refusal(body(content=[text("x" * 7001)]))


@pytest.mark.parametrize(
    "content",
    [
        [image()],  # no text
        [text(), text("again")],  # two texts
        [text("   ")],  # blank
        [{"type": "text"}],  # no text field
    ],
)
def test_exactly_one_non_empty_text_item(content: list[dict[str, Any]]) -> None:
    assert "text item" in refusal(body(content=content, ratio="16:9"))


def test_content_must_be_a_non_empty_array_of_objects() -> None:
    assert "non-empty array" in refusal(body(content=[]))
    assert "non-empty array" in refusal(body(content={"type": "text"}))
    assert "must be an object" in refusal(body(content=[text(), "x"]))


# -- each item's payload and role


def test_an_item_holds_exactly_the_payload_of_its_type() -> None:
    wrong = {"type": "image_url", "video_url": {"url": URL.format("a")}}
    assert "exactly one image_url object" in refusal(body(wrong))
    both = {**image(), "video_url": {"url": "https://example.com/v.mp4"}}
    assert "exactly one image_url object" in refusal(body(both))
    assert "url must be a non-empty string" in refusal(body({"type": "image_url", "image_url": {}}))
    assert "type must be text" in refusal(body({"type": "file_url", "file_url": {"url": "x"}}))


def test_roles_must_fit_the_kind() -> None:
    assert "takes role reference_video" in refusal(body({**video(), "role": "reference_image"}))
    assert "takes role first_frame or last_frame or reference_image" in refusal(
        body(image(role="base_video"))
    )


def test_counts_at_their_limits() -> None:
    refs = [image(URL.format(i), "reference_image") for i in range(10)]
    assert parse_v2_request(body(*refs[:9])).mode is Mode.R2V
    assert "10 items of role reference_image; at most 9" in refusal(body(*refs))
    videos = [video(f"https://example.com/{i}.mp4") for i in range(4)]
    assert parse_v2_request(body(*videos[:3])).mode is Mode.R2V
    assert "4 items of role reference_video; at most 3" in refusal(body(*videos))
    audios = [audio(f"https://example.com/{i}.mp3") for i in range(4)]
    assert parse_v2_request(body(video(), *audios[:3])).mode is Mode.R2V
    assert "4 items of role reference_audio; at most 3" in refusal(body(video(), *audios))
    twelve = [*refs[:9], *videos[:3]]
    assert parse_v2_request(body(*twelve)).mode is Mode.R2V
    assert "13 reference files; at most 12" in refusal(body(*twelve, audios[0]))
    assert "role first_frame; at most 1" in refusal(body(image(), image(URL.format("b"))))
    two_last = [image(role="last_frame"), image(URL.format("b"), "last_frame")]
    assert "role last_frame; at most 1" in refusal(body(*two_last))


def test_frames_and_references_never_mix() -> None:
    assert "cannot be mixed" in refusal(body(image(role="first_frame"), video()))
    assert "cannot be mixed" in refusal(
        body(image(role="last_frame"), image(URL.format("b"), "reference_image"))
    )


def test_reference_audio_alone_is_refused() -> None:
    assert "needs a reference image or video" in refusal(body(audio()))


# -- ratio, capabilities, extra, switches


def test_ratio_rules() -> None:
    for ratio in ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16"):
        assert parse_v2_request(body(ratio=ratio)).ratio == ratio
    assert "other than adaptive" in refusal(body(ratio="adaptive"))
    assert "other than adaptive" in refusal(body(ratio=None))
    assert "ratio must be one of" in refusal(body(ratio="2:1"))
    assert "ratio must be one of" in refusal(body(image(), ratio="2:1"))


def test_h3_max_takes_no_references_and_h3_no_extra() -> None:
    max_refs = body(image(role="reference_image"), model="MiniMax-H3-Max")
    assert "does not take reference" in refusal(max_refs)
    extra = {"prompt_expansion_mode": "quality"}
    assert "extra is not accepted by MiniMax-H3" in refusal(body(extra=extra))
    req = parse_v2_request(body(model="MiniMax-H3-Max", extra=extra))
    assert req.options == {"extra": extra}


@pytest.mark.parametrize(
    "extra",
    [
        {"prompt_expansion_mode": "balance"},
        {"other": 1},
        "quality",
        {"prompt_expansion_mode": True},
    ],
)
def test_extra_shape_is_strict(extra: Any) -> None:
    assert "extra" in refusal(body(model="MiniMax-H3-Max", extra=extra))


def test_watermark_and_callback() -> None:
    assert parse_v2_request(body(aigc_watermark=True)).options == {"aigc_watermark": True}
    assert "true or false" in refusal(body(aigc_watermark="yes"))
    assert parse_v2_request(body(callback_url="https://hooks.example.com/x")).callback_url
    assert "http(s) URL" in refusal(body(callback_url="ftp://x"))


# -- media values


def test_media_values() -> None:
    assert parse_v2_request(body(image("mm_file://331200000000001"))).media[0].source
    assert "mm_file://<file id>" in refusal(body(image("mm_file://")))
    assert "public http(s) URL, an mm_file:// id or a data URI" in refusal(body(image("ftp://x")))
    assert "port" in refusal(body(image("https://example.com:99999/a.png")))


def test_inline_images_at_the_v2_bounds() -> None:
    assert parse_v2_request(body(image(png(256, 256)))).media[0].width == 256
    assert "each side must be 256 to 5760 px" in refusal(body(image(png(255, 256))))
    assert parse_v2_request(body(image(png(256, 640)))).media[0].height == 640  # 0.4
    assert "between 0.4 and 2.5" in refusal(body(image(png(256, 641))))
    assert parse_v2_request(body(image(png(640, 256)))).media[0].width == 640  # 2.5
    assert "between 0.4 and 2.5" in refusal(body(image(png(641, 256))))


def test_inline_videos_length_rate_and_total() -> None:
    req = parse_v2_request(body({**video(mp4(2.0))}))
    assert req.media[0].seconds == pytest.approx(2.0, abs=0.05)
    assert req.media[0].width == 256
    assert "each clip must last 2 to 15 seconds" in refusal(body(video(mp4(1.5))))
    assert "runs at 20 fps" in refusal(body(video(mp4(2.0, fps=20))))
    five = mp4(5.0)
    assert len(parse_v2_request(body(video(five), video(five), video(five))).media) == 3
    six = mp4(6.0)
    assert "last 16.0 s together; at most 15" in refusal(body(video(five), video(five), video(six)))


def test_inline_audio_length_and_what_is_not_audio() -> None:
    req = parse_v2_request(body(video(), audio(wav(2.0))))
    assert req.media[1].seconds == pytest.approx(2.0, abs=0.01)
    assert "each clip must last 2 to 15 seconds" in refusal(body(video(), audio(wav(1.9))))
    assert "is not a readable audio file" in refusal(
        body(video(), audio("data:audio/wav;base64," + base64.b64encode(b"RIFFjunk").decode()))
    )
    assert "data:audio/<wav|mp3>" in refusal(body(video(), audio("data:audio/ogg;base64,AAAA")))
    assert "a data URI 'data:video/mp4" in refusal(body(video(wav(2.0))))


def test_has_inline_media() -> None:
    assert has_inline_media(body(image(png(256, 256))))
    assert has_inline_media(body(video(), audio(wav(2.0))))
    assert not has_inline_media(body(image()))
    assert not has_inline_media({"content": "x"})
    assert not has_inline_media([])
