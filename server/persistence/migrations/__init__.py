"""Versioned schema migrations, one ordered list per backend.

Why plain modules with SQL rather than a migration framework: two small backends, DDL that must
differ between them (partitioning exists only on PostgreSQL), and the runner has to work from
`ganggpt migrate` and at server start alike. Each module in `postgres/` or `sqlite/` defines
`VERSION` (1, 2, ... with no gaps), `NAME` and `STATEMENTS`; a backend applies every version
above the highest row of its `schema_migrations` table, each in its own transaction, and
refuses to run against a schema newer than it knows.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


class MigrationError(RuntimeError):
    """The migrations on disk or in the database are not a clean ordered sequence."""


def load_migrations(backend: str) -> list[Migration]:
    """The migrations of `backend` ("postgres" or "sqlite"), ordered by version."""
    package = importlib.import_module(f"{__name__}.{backend}")
    found: list[Migration] = []
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("v"):
            continue
        mod = importlib.import_module(f"{package.__name__}.{info.name}")
        found.append(Migration(int(mod.VERSION), str(mod.NAME), tuple(mod.STATEMENTS)))
    found.sort(key=lambda m: m.version)
    for expected, m in enumerate(found, start=1):
        if m.version != expected:
            raise MigrationError(
                f"{backend} migrations: expected version {expected}, found {m.version}"
            )
    return found


def pending(migrations: list[Migration], current: int) -> list[Migration]:
    """What still has to run on a database at version `current`."""
    latest = migrations[-1].version if migrations else 0
    if current > latest:
        raise MigrationError(
            f"database schema is at version {current}, newer than this server knows ({latest});"
            " upgrade the server instead"
        )
    return [m for m in migrations if m.version > current]
