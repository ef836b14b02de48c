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
