"""The container files, checked offline (there is no Docker engine in CI): what the build
context carries, where the outage journal lives, and a health check that follows SERVER_PORT.
`ganggpt healthcheck` itself is run against a real server in test_startup.py."""

from __future__ import annotations

import re
import shlex
from pathlib import Path, PurePosixPath

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "docker" / "Dockerfile").read_text()


def _image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for m in re.finditer(r"^ENV (.+?)(?<!\\)$", DOCKERFILE, re.M | re.S):
        for pair in shlex.split(m.group(1).replace("\\\n", " ")):
            k, _, v = pair.partition("=")
            env[k] = v
    return env


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for must in (".venv", "data", ".git", "**/node_modules", "**/__pycache__", ".env"):
        assert must in ignored, must
    # ...but nothing the Dockerfile copies.
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, re.M):
        for path in src.split():
            assert path.rstrip("/") not in ignored, path


def test_healthcheck_follows_the_configured_port() -> None:
    m = re.search(r"^HEALTHCHECK .*?CMD (.+)$", DOCKERFILE, re.M | re.S)
    assert m
    cmd = m.group(1)
    assert "22005" not in cmd, "the port must come from SERVER_PORT"
    assert '"ganggpt", "healthcheck"' in cmd


def test_the_journal_is_on_a_volume_in_compose() -> None:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    svc = compose["services"]["ganggpt-server"]
    env = {**_image_env(), **{k: str(v) for k, v in svc.get("environment", {}).items()}}
    journal = PurePosixPath(env["JOURNAL_PATH"])
    mounts = {}
    for spec in svc.get("volumes", []):
        name, _, target = spec.partition(":")
        mounts[PurePosixPath(target.split(":")[0])] = name
    holding = [t for t in mounts if t == journal or t in journal.parents]
    assert holding, f"{journal} is not on a volume: {mounts}"
    assert mounts[holding[0]] in (compose.get("volumes") or {}), "a named volume, declared"
    # The SQLite file (used when DATABASE_URL is unset) lives there too.
    sqlite = PurePosixPath(env["SQLITE_PATH"])
    assert any(t in sqlite.parents for t in mounts)
    assert env["SERVER_HOST"] == "0.0.0.0"
