"""Configuration: defaults, bad values named at start, and the documented example in step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from config import Config, ConfigError, load_config
from config.example import render

ROOT = Path(__file__).resolve().parents[2]


def test_seed_defaults() -> None:
    c = load_config()
    assert (c.server_port, c.max_players, c.tickrate, c.server_name) == (
        22005,
        128,
        60,
        "GangGPT Server",
    )
    assert c.send_rate == 30 and c.ticks_per_patch == 2
    assert c.database_url is None and c.redis_url is None and c.ai_backend == "offline"


@pytest.mark.parametrize(
    ("env", "value", "needle"),
    [
        ("TICKRATE", "fast", "TICKRATE"),
        ("SERVER_PORT", "70000", "SERVER_PORT"),
        ("MAX_PLAYERS", "0", "MAX_PLAYERS"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL"),
        ("SEND_RATE", "7", "SEND_RATE"),
        ("WORLD_MAX_X", "-5000", "WORLD_MAX_X"),
        ("AOI_CELL_SIZE", "-1", "AOI_CELL_SIZE"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as e:
        load_config()
    assert needle in str(e.value)


def test_cli_fails_at_start_with_the_name(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "server", "run"],
        env={"PATH": "/usr/bin:/bin", "TICKRATE": "abc", "HOME": str(tmp_path)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "TICKRATE" in r.stderr and "integer" in r.stderr


def test_env_example_documents_every_variable_and_is_current() -> None:
    text = (ROOT / "config" / ".env.example").read_text()
    assert text == render(), (
        "config/.env.example is stale: run `python -m config.example > config/.env.example`"
    )
    for name in Config.model_fields:
        assert f"{name.upper()}=" in text, name


def test_secrets_are_masked() -> None:
    c = load_config(jwt_secret="s3cret", redis_password="pw")
    d = c.public_dict()
    assert d["jwt_secret"] == "***" and d["redis_password"] == "***"
