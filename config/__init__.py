"""Typed configuration: one `Config` built from environment variables and an optional `.env`."""

from __future__ import annotations

from config.settings import Config, ConfigError, load_config

__all__ = ["Config", "ConfigError", "load_config"]
