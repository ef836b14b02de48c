"""Signatures from clients are compared as bytes: any text is a yes or a no, never a crash."""

from __future__ import annotations

import pytest

from reelgate.domain import signing, webhooks
from reelgate.services.upstream_callbacks import UpstreamCallbacks

SECRET = b"k" * 32
EXPIRES = 9_999_999_999
ODD = ["é", "\udc80", "€" * 27, "\x00", "", "x" * 1000, "ü" + "a" * 26]


def test_a_valid_signature_verifies_until_it_expires() -> None:
    sig = signing.sign(SECRET, "video_1", EXPIRES)
    assert signing.verify(SECRET, "video_1", EXPIRES, sig, now=EXPIRES)
    assert not signing.verify(SECRET, "video_1", EXPIRES, sig, now=EXPIRES + 1)
    assert not signing.verify(SECRET, "video_2", EXPIRES, sig, now=0)


@pytest.mark.parametrize("given", ODD)
def test_any_other_text_is_simply_invalid(given: str) -> None:
    assert not signing.verify(SECRET, "video_1", EXPIRES, given, now=0)
    assert not signing.same(signing.sign(SECRET, "video_1", EXPIRES), given)


def test_a_non_ascii_character_in_an_otherwise_right_signature_is_invalid() -> None:
    sig = signing.sign(SECRET, "video_1", EXPIRES)
    assert not signing.verify(SECRET, "video_1", EXPIRES, sig[:-1] + "é", now=0)


@pytest.mark.parametrize("given", ODD)
def test_upstream_callback_tokens_and_webhook_signatures_too(given: str) -> None:
    callbacks = UpstreamCallbacks(SECRET, "https://gw.example")
    url = callbacks.url_for("video_1")
    assert url is not None
    assert callbacks.verify(url.rsplit("/", 1)[1]) == "video_1"
    assert callbacks.verify(f"video_1.{given}") is None
    secret = webhooks.new_secret()
    assert not webhooks.verify(secret, "msg_1", 1, b"{}", f"v1,{given}")
    assert webhooks.verify(secret, "msg_1", 1, b"{}", webhooks.signature(secret, "msg_1", 1, b"{}"))
