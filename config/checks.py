"""Warnings at start about settings that would otherwise silently do nothing.

Why: pydantic-settings ignores a variable it does not know, so `SEVER_PORT=9000` in `.env`
leaves the server on 22005 without a word; and a few seed settings are read by no code yet.
Each warning names the variable and never shows its value.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

from config.settings import Config, default_journal_path

# Variables the process reads that are not Config fields.
OTHER_KNOWN = frozenset({"GANGGPT_ENV_FILE"})
# Prefixes that only this server's settings use: an unknown name with one is a mistake. Not
# OPENAI_/AZURE_ (the openai library reads its own variables) nor generic ones like MAX_.
OWN_PREFIXES = (
    "SERVER_",
    "WORLD_",
    "AOI_",
    "NPC_",
    "DATABASE_",
    "SQLITE_",
    "PERSIST_",
    "JOURNAL_",
    "REDIS_",
    "CACHE_",
)
# Seed settings that no code reads yet: setting them changes nothing, which an operator must
# know. The feature that reads one removes it from here.
NOT_YET_USED: dict[str, str] = {}


def _norm(name: str) -> str:
    return name.upper().replace("_", "").replace("-", "")


def known_names() -> set[str]:
    return {n.upper() for n in Config.model_fields} | OTHER_KNOWN


def suggest(name: str, known: set[str]) -> str | None:
    """The known setting `name` was most likely meant to be, if any is close."""
    by_norm = {_norm(k): k for k in known}
    hit = difflib.get_close_matches(_norm(name), list(by_norm), n=1, cutoff=0.8)
    return by_norm[hit[0]] if hit else None


def unknown_variables(
    environ: Mapping[str, str], dotenv: Mapping[str, str | None], dotenv_name: str
) -> list[str]:
    """One warning per variable that looks meant for this server but is not a setting.

    Every unknown name in the .env file counts (the file is this server's); from the
    environment, only names with one of this server's prefixes or close to a setting's name,
    since the environment holds PATH, HOME and every other program's variables."""
    known = known_names()
    out: list[str] = []
    seen: set[str] = set()
    for source, names, strict in (
        (dotenv_name, list(dotenv), True),
        ("the environment", list(environ), False),
    ):
        for raw in names:
            name = raw.upper()
            if name in known or name in seen:
                continue
            close = suggest(name, known)
            if not (strict or close or name.startswith(OWN_PREFIXES)):
                continue
            seen.add(name)
            hint = f"; did you mean {close}?" if close else ""
            out.append(f"{raw} (in {source}) is not a setting and is ignored{hint}")
    return out


def unused_settings(config: Config) -> list[str]:
    return [
        f"{name.upper()} is set but not used yet: {why}; it has no effect"
        for name, why in NOT_YET_USED.items()
        if getattr(config, name, None)
    ]


def startup_warnings(
    config: Config,
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = None,
) -> list[str]:
    """Everything about this configuration an operator should hear at start."""
    if environ is None:
        environ = os.environ
    if env_file is None:
        env_file = str(Config.model_config.get("env_file") or ".env")
    path = Path(env_file)
    dotenv = dotenv_values(path) if path.is_file() else {}
    return unknown_variables(environ, dotenv, str(path)) + unused_settings(config)


def startup_facts(config: Config) -> list[str]:
    """Where this server keeps its data, resolved, for the start-up log."""
    if config.persistence == "off":
        return ["persistence off: players are kept in memory only"]
    facts = []
    if not config.database_url:
        facts.append(f"SQLite database at {config.sqlite_path or ':memory:'}")
    facts.append(f"outage journal at {default_journal_path(config)}")
    return facts
