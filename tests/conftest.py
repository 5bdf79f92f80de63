"""Root fixtures. Service fixtures (per-run PostgreSQL database, Redis prefix) are plugins."""

from __future__ import annotations

pytest_plugins: list[str] = ["tests.services_fixtures"]
