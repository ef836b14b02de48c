"""The exact words of the 2013 refusals a client reads, and the edges they are drawn at.

Other tests check that a bad image or URL is refused; these pin what the refusal says (the
message is the contract: it names the field and what to fix) and where each limit falls:
at the limit and one past it.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from reelgate.domain.images import MAX_PIXELS, probe_image
from reelgate.domain.urls import MAX_HOST_CHARS, _host, _split_host_port, parse_web_url
from reelgate.errors import InvalidParams
from reelgate.surfaces.minimax_v1.requests import parse_video_request
from tests.support import data_url, image_bytes

IMG = data_url(image_bytes(640, 400))
FIELD = "first_frame_image"


def image_refusal(data: bytes) -> str:
    with pytest.raises(InvalidParams) as info:
        probe_image(data, FIELD)
    assert info.value.code == 2013
    return info.value.message


def url_refusal(url: str) -> str:
    with pytest.raises(InvalidParams) as info:
        parse_web_url(url, "callback_url")
    assert info.value.code == 2013
    return info.value.message


def request_refusal(body: object) -> str:
    with pytest.raises(InvalidParams) as info:
        parse_video_request(body)
    assert info.value.code == 2013
    return info.value.message


NOT_DECODABLE = f"invalid params, {FIELD} is not a decodable image"


def not_format(name: str) -> str:
    return f"invalid params, {FIELD} must be JPG, JPEG, PNG or WebP, not {name}"


# -- images: formats we refuse are named from their magic bytes, never parsed


@pytest.mark.parametrize(
    ("magic", "header", "name"),
    [
        (b"GIF87a", 13, "GIF"),
        (b"GIF89a", 13, "GIF"),
        (b"BM", 26, "BMP"),
        (b"II*\x00", 8, "TIFF"),
        (b"MM\x00*", 8, "TIFF"),
        (b"8BPS", 26, "PSD"),
        (b"\x00\x00\x01\x00", 22, "ICO"),
    ],
)
def test_a_refused_format_is_named_once_its_header_is_whole(
    magic: bytes, header: int, name: str
) -> None:
    whole = magic + b"\x01" * (header - len(magic))
    assert image_refusal(whole) == not_format(name)
    # one byte short of a header: not that format, just not an image
    assert image_refusal(whole[:-1]) == NOT_DECODABLE


@pytest.mark.parametrize("brand", [b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"])
def test_heic_and_avif_are_named_past_32_bytes(brand: bytes) -> None:
    head = b"\x00\x00\x00\x20" + brand
    assert image_refusal(head + b"\x00" * (33 - len(head))) == not_format("HEIC/AVIF")
    assert image_refusal(head + b"\x00" * (32 - len(head))) == NOT_DECODABLE


def test_a_brand_one_byte_off_is_not_heic() -> None:
    assert image_refusal(b"\x00\x00\x00\x20\x00ftypheic" + b"\x00" * 24) == NOT_DECODABLE
    assert image_refusal(b"\x00\x00\x00\x20ftypHEIC" + b"\x00" * 24) == NOT_DECODABLE


def test_a_format_pillow_could_read_is_never_handed_to_it() -> None:
    # PPM is not one of the refused formats we name: had Pillow parsed it, it would say "PPM"
    buf = io.BytesIO()
    Image.new("RGB", (640, 400)).save(buf, "PPM")
    assert image_refusal(buf.getvalue()) == NOT_DECODABLE


def test_a_multi_picture_jpeg_is_named_mpo() -> None:
    buf = io.BytesIO()
    frames = [Image.new("RGB", (640, 400), colour) for colour in ("red", "blue")]
    frames[0].save(buf, "MPO", save_all=True, append_images=frames[1:])
    assert image_refusal(buf.getvalue()) == not_format("MPO")


def test_the_probe_reports_format_size_and_bytes() -> None:
    data = image_bytes(640, 400)
    info = probe_image(data, FIELD)
    assert (info.format, info.width, info.height, info.size) == ("png", 640, 400, len(data))


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + payload))
        return struct.pack(">I", len(payload)) + kind + payload + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_too_many_pixels_names_the_field_and_the_size() -> None:
    assert image_refusal(_png_header(8193, 8192)) == (
        f"invalid params, {FIELD} is 8193x8192: has more than {MAX_PIXELS:,} pixels "
        "(e.g. 8192x8192); scale it down, the video is at most 1080P"
    )


def test_a_pillow_bomb_names_the_field_without_a_size() -> None:
    # far past Pillow's own bomb limit: it refuses from the header, before our check
    assert image_refusal(_png_header(16383, 16383)) == (
        f"invalid params, {FIELD} has more than {MAX_PIXELS:,} pixels "
        "(e.g. 8192x8192); scale it down, the video is at most 1080P"
    )


# -- URLs


WHITESPACE_RULE = "URLs may not contain whitespace or control characters (percent-encode them)"


def test_a_control_character_is_named_with_its_position() -> None:
    assert url_refusal("http://a\tb/") == (
        f"invalid params, callback_url contains the character U+0009 at position 8; "
        f"{WHITESPACE_RULE}"
    )
    assert url_refusal("http://a b/") == (
        f"invalid params, callback_url contains a space at position 8; {WHITESPACE_RULE}"
    )


def test_bracketed_hosts_and_their_ports() -> None:
    assert parse_web_url("http://[::1]:8080/", "u").port == 8080
    plain = parse_web_url("http://[::1]/", "u")
    assert (plain.host, plain.port, str(plain.ip)) == ("::1", 80, "::1")
    assert parse_web_url("http://[::1]:/", "u").port == 80  # "host:" is the default port
    assert parse_web_url("https://a:/", "u").port == 443
    assert url_refusal("http://[::1]x/") == "invalid params, callback_url has 'x' after its host"


def test_host_splitting_refusals() -> None:
    # urlsplit refuses these first today; the splitter must not depend on it
    with pytest.raises(InvalidParams) as info:
        _split_host_port("[::1", "u")
    assert info.value.message == "invalid params, u has an unclosed '[' in its host"
    with pytest.raises(InvalidParams) as info:
        _split_host_port("[::1]]", "u")
    assert info.value.message == "invalid params, u has ']' after its host"
    assert _split_host_port("[::1]:80", "u") == ("[::1]", "80")
    with pytest.raises(InvalidParams) as info:
        _host("[zz]", "u")
    assert info.value.message == "invalid params, u has '[zz]' as its host, not an IPv6 address"


def test_an_ipv6_address_without_brackets_says_how_to_write_it() -> None:
    assert url_refusal("http://1:2:3/") == (
        "invalid params, callback_url has an IPv6 address without brackets; "
        "write it as http://[2001:db8::1]/..."
    )


def test_international_names_become_idna_by_uts46() -> None:
    assert parse_web_url("http://bücher.de/", "u").host == "xn--bcher-kva.de"
    # a full-width letter is mapped by UTS 46; strict IDNA 2008 would refuse it
    assert parse_web_url("http://ａ.com/", "u").host == "a.com"


def test_a_trailing_dot_is_dropped() -> None:
    assert parse_web_url("http://EXAMPLE.com./", "u").host == "example.com"
    dotted = parse_web_url("http://1.2.3.4./", "u")
    assert (dotted.host, str(dotted.ip)) == ("1.2.3.4", "1.2.3.4")


def test_an_ipv4_host_must_be_a_dotted_quad() -> None:
    assert url_refusal("http://256.1.1.1/") == (
        "invalid params, callback_url has '256.1.1.1' as its host; an IPv4 address must be "
        "four decimal numbers from 0 to 255 (like 93.184.216.34)"
    )


def _host_of(length: int) -> str:
    labels = ["a" * 63, "b" * 63, "c" * 63]
    return ".".join([*labels, "d" * (length - 3 * 64)])


def test_host_name_length_at_the_edge() -> None:
    assert len(_host_of(MAX_HOST_CHARS)) == MAX_HOST_CHARS
    assert parse_web_url(f"http://{_host_of(MAX_HOST_CHARS)}/", "u").host
    long = _host_of(MAX_HOST_CHARS + 1)
    assert url_refusal(f"http://{long}/") == (
        f"invalid params, callback_url has {long!r} as its host, not a valid host name "
        "(letters, digits and '-', dot-separated labels of at most 63 characters)"
    )


# -- modes a model does not have


def test_text_to_video_on_an_image_model_says_what_to_send() -> None:
    assert request_refusal({"model": "I2V-01", "prompt": "x"}) == (
        "invalid params, I2V-01 does not support text to video: send first_frame_image; "
        "I2V-01 supports image to video (first_frame_image)"
    )
    assert request_refusal({"model": "S2V-01", "prompt": "x"}) == (
        "invalid params, S2V-01 does not support text to video: send subject_reference; "
        "S2V-01 supports subject reference (subject_reference)"
    )


def test_an_empty_required_image_is_called_empty() -> None:
    assert request_refusal({"model": "S2V-01", "prompt": "x", "subject_reference": None}) == (
        "invalid params, subject_reference is required for S2V-01 "
        "(subject reference (subject_reference)) and was empty"
    )


def test_a_mode_refusal_lists_the_models_that_have_it() -> None:
    assert request_refusal({"model": "T2V-01", "prompt": "x", "first_frame_image": IMG}) == (
        "invalid params, T2V-01 does not accept first_frame_image: image to video "
        "(first_frame_image) is available on MiniMax-Hailuo-2.3, MiniMax-Hailuo-2.3-Fast, "
        "MiniMax-Hailuo-02, I2V-01-Director, I2V-01-live, I2V-01"
    )
    subject = [{"type": "character", "image": [IMG]}]
    assert request_refusal(
        {"model": "MiniMax-Hailuo-02", "prompt": "x", "subject_reference": subject}
    ) == (
        "invalid params, MiniMax-Hailuo-02 does not accept subject_reference: subject "
        "reference (subject_reference) is available on S2V-01"
    )
    assert request_refusal(
        {"model": "I2V-01", "prompt": "x", "first_frame_image": IMG, "last_frame_image": IMG}
    ) == (
        "invalid params, I2V-01 does not accept last_frame_image: first and last frame "
        "(first_frame_image + last_frame_image) is available on MiniMax-Hailuo-02"
    )


# -- what the store keeps of a request


def test_the_summary_keeps_the_request_without_image_bytes() -> None:
    req = parse_video_request(
        {
            "model": "MiniMax-Hailuo-02",
            "prompt": "p",
            "first_frame_image": IMG,
            "last_frame_image": "https://example.com/b.png",
            "duration": 6,
            "resolution": "768P",
        }
    )
    assert req.first_frame is not None
    assert req.summary() == {
        "model": "MiniMax-Hailuo-02",
        "mode": "fl2v",
        "prompt": "p",
        "duration": 6,
        "resolution": "768P",
        "first_frame_image": req.first_frame.describe(),
        "last_frame_image": "https://example.com/b.png",
    }
    assert req.summary()["first_frame_image"].startswith("data:image;sha256=")
    subject = [{"type": "character", "image": ["https://example.com/a.png"]}]
    s2v = parse_video_request({"model": "S2V-01", "prompt": "p", "subject_reference": subject})
    assert s2v.summary() == {
        "model": "S2V-01",
        "mode": "s2v",
        "prompt": "p",
        "duration": 6,
        "resolution": "1080P",
        "subject_image": "https://example.com/a.png",
    }


def test_a_body_that_is_not_an_object_and_a_subject_with_a_first_frame() -> None:
    assert request_refusal([]) == ("invalid params, the request body must be a JSON object")
    subject = [{"type": "character", "image": [IMG]}]
    body = {"model": "S2V-01", "prompt": "x", "subject_reference": subject}
    assert request_refusal({**body, "first_frame_image": IMG}) == (
        "invalid params, subject reference does not take first_frame_image"
    )


def test_the_last_frame_and_callback_url_are_carried() -> None:
    req = parse_video_request(
        {
            "model": "MiniMax-Hailuo-02",
            "prompt": "p",
            "first_frame_image": IMG,
            "last_frame_image": "https://example.com/b.png",
            "callback_url": "https://hooks.example.com/x",
        }
    )
    assert req.last_frame is not None and req.last_frame.source == "https://example.com/b.png"
    assert req.callback_url == "https://hooks.example.com/x"
    unset = parse_video_request({"model": "T2V-01", "prompt": "p", "callback_url": ""})
    assert unset.callback_url is None
