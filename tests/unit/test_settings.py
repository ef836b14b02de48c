"""Settings refuse values that would lock the operator out, with a clear message."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reelgate.settings import Settings

SECRETS = ("admin_token", "bootstrap_api_key", "metrics_token", "secret_key")


@pytest.mark.parametrize("name", SECRETS)
@pytest.mark.parametrize("value", ["", "        ", "1234567"])
def test_a_blank_or_short_secret_is_refused(name: str, value: str) -> None:
    with pytest.raises(ValidationError, match="at least 8 characters"):
        Settings(**{name: value})


@pytest.mark.parametrize("name", SECRETS)
def test_a_secret_of_eight_characters_is_accepted(name: str) -> None:
    settings = Settings(**{name: "12345678"})
    secret = getattr(settings, name)
    assert secret is not None and secret.get_secret_value() == "12345678"


def test_the_mounted_sandbox_is_reached_on_this_process_own_address() -> None:
    """Not through the public URL (a proxy, another host name): the process calls itself."""
    from reelgate.settings import Settings

    behind_proxy = Settings(
        host="0.0.0.0", port=8000, public_base_url="https://videos.example.com/"
    )
    assert behind_proxy.base_url == "https://videos.example.com"  # what clients are given
    assert behind_proxy.upstream_base_url == "http://127.0.0.1:8000/sandbox"
    assert Settings(host="::", port=9).upstream_base_url == "http://127.0.0.1:9/sandbox"
    assert Settings(host="::1", port=9).local_base_url == "http://[::1]:9"
    assert Settings(host="10.0.0.5", port=9).base_url == "http://10.0.0.5:9"
    # a wildcard bind without a public URL: links name the loopback, never 0.0.0.0
    assert Settings(host="0.0.0.0", port=8000).base_url == "http://127.0.0.1:8000"
