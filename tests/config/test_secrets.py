"""The one masking function: what it hides in URLs and free text, and what it keeps."""

from __future__ import annotations

import pytest

from config import load_config
from config.secrets import mask_url, redact, redact_obj


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://admin:s3cretpw@db:5432/g", "postgresql://admin:***@db:5432/g"),
        ("redis://:redispw@r:6379/0", "redis://:***@r:6379/0"),
        ("redis://r:6379/0", "redis://r:6379/0"),
        (
            "postgresql://u@h/db?password=qwerty&sslmode=require",
            "postgresql://u@h/db?password=***&sslmode=require",
        ),
        ("https://x.openai.azure.com/?api-key=abcdef", "https://x.openai.azure.com/?api-key=***"),
        ("postgresql://u:p%40ss%3Aword@h/db", "postgresql://u:***@h/db"),
        ("http://[::1/x", "***"),  # not a URL: nothing of it is shown
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_every_secret_is_redacted_raw_and_decoded() -> None:
    cfg = load_config(
        database_url="postgresql://u:p%40ss%3Aword@h/db",
        redis_url="redis://:redispw@r:6379/0",
        openai_api_key="sk-abcdef",
        encryption_key="000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    )
    text = "p%40ss%3Aword p@ss:word redispw sk-abcdef 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f user u host h"
    out = redact(text, cfg.secrets())
    assert out == "*** *** *** *** *** user u host h"
    assert redact_obj({"a": [text], "n": 1}, cfg.secrets()) == {"a": [out], "n": 1}
    shown = cfg.public_dict()
    assert shown["openai_api_key"] == "***" and shown["encryption_key"] == "***"
    assert shown["database_url"] == "postgresql://u:***@h/db"


def test_very_short_secrets_are_masked_in_config_but_not_hunted_in_text() -> None:
    cfg = load_config(jwt_secret="ab")
    assert cfg.public_dict()["jwt_secret"] == "***"
    assert redact("tab stab", cfg.secrets()) == "tab stab"
