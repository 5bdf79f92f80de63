"""AI configuration: a selected provider that cannot work fails at start, by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_offline_is_the_default_and_needs_nothing() -> None:
    c = load_config()
    assert c.ai_provider == "offline" and c.ai_backend == "offline"


def test_openai_without_a_key_names_the_variable() -> None:
    with pytest.raises(ConfigError) as e:
        load_config(ai_provider="openai")
    assert "OPENAI_API_KEY" in str(e.value)
    assert load_config(ai_provider="openai", openai_api_key="k").ai_provider == "openai"
    # A local OpenAI-compatible server needs no key.
    assert load_config(ai_provider="openai", openai_base_url="http://127.0.0.1:11434/v1")


def test_azure_names_every_missing_variable() -> None:
    with pytest.raises(ConfigError) as e:
        load_config(ai_provider="azure", azure_openai_key="k")
    msg = str(e.value)
    assert "AZURE_OPENAI_ENDPOINT" in msg and "AZURE_OPENAI_DEPLOYMENT" in msg
    assert "AZURE_OPENAI_KEY:" not in msg


def test_the_old_name_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_BACKEND", "local")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    assert load_config().ai_provider == "openai"
    monkeypatch.setenv("AI_PROVIDER", "offline")
    assert load_config().ai_provider == "offline"


def test_keys_are_masked() -> None:
    c = load_config(
        ai_provider="azure",
        azure_openai_endpoint="https://x",
        azure_openai_key="sekrit",
        azure_openai_deployment="d",
        openai_api_key="sk-1",
    )
    d = c.public_dict()
    assert d["azure_openai_key"] == "***" and d["openai_api_key"] == "***"


def test_server_refuses_to_start_with_an_unconfigured_provider(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "server", "run"],
        env={
            "PATH": "/usr/bin:/bin",
            "AI_PROVIDER": "azure",
            "AZURE_OPENAI_KEY": "sekrit",
            "HOME": str(tmp_path),
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "AZURE_OPENAI_ENDPOINT" in r.stderr and "sekrit" not in r.stderr + r.stdout
