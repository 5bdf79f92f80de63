"""`ganggpt copy --from URL --to URL`: move a world between databases (SQLite -> PostgreSQL,
and back).

Why not a backup and a restore: a backup is a file of its backend (pg_dump, SQLite pages), and
the two backends store the same columns in different types (times are REAL unix seconds in
SQLite and TIMESTAMPTZ in PostgreSQL, UUIDs and JSON are TEXT in SQLite...). So the copy goes
table by table, in foreign-key order, converting each value to the type of the target column
as the target's own catalogue describes it. The target is migrated first and must be empty;
it keeps its own database id (ganggpt_meta), since it is another database. Both databases are
held exclusively meanwhile (owner.py): no server may write to either during a copy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config import Config
from config.settings import default_journal_path
from server.persistence.journal import journal_records
from server.persistence.owner import (
    DatabaseInUse,
    Owner,
    make_owner,
    mask_url,
)
from server.persistence.pg_storage import PostgresStorage
from server.persistence.service import make_storage
from server.persistence.sql import SqlStorage

BATCH = 500

# (table, order by) in foreign-key order; ganggpt_meta and schema_migrations are the
# target's own and are not copied.
TABLES: tuple[tuple[str, str], ...] = (
    ("players", "id"),
    ("player_state", "player_id"),
    ("accounts", "player_id"),
    ("account_identities", "provider, subject"),
    ("auth_sessions", "sid"),
    ("auth_refresh_tokens", "token_hash"),
    ("player_notes", "id"),
    ("player_warnings", "id"),
    ("money_ledger", "id"),
    ("factions", "name"),
    ("faction_members", "player_id"),
    ("faction_relationships", "id"),
    ("missions", "id"),
    ("mission_assignments", "mission_id, player_id"),
    ("companions", "id"),
    ("npc_memories", "id, created_at"),
    ("resume_sessions", "token"),
    ("ai_calls", "id"),
    ("admin_audit", "id"),
    ("applied_events", "event_id"),
    ("mission_offers", "mission_id"),
    ("npc_relationships", "npc_key, player_id"),
)


class CopyError(RuntimeError):
    """The copy cannot be made; the message says why and what to do."""


def config_for(base: Config, url: str) -> Config:
    """`base` pointed at the database `url`: postgresql://... or sqlite:///path
    (sqlite:////absolute/path, as SQLAlchemy spells it)."""
    if url.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        return base.model_copy(update={"database_url": url, "database_read_url": None})
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise CopyError(f"{url}: no SQLite file named")
        return base.model_copy(update={"database_url": None, "sqlite_path": path})
    raise CopyError(f"{mask_url(url)}: expected postgresql://... or sqlite:///path")


# --- values, converted to what the target column stores ---
def _to_ts(v: Any) -> float:
    if isinstance(v, dt.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=dt.UTC)).timestamp()
    return float(v)


def _converter(backend: str, col_type: str) -> Callable[[Any], Any]:
    t = col_type.lower()
    if backend == "postgres":
        if t.startswith("timestamp"):
            return lambda v: dt.datetime.fromtimestamp(_to_ts(v), tz=dt.UTC)
        if t == "interval":
            return lambda v: v if isinstance(v, dt.timedelta) else dt.timedelta(seconds=float(v))
        if t == "boolean":
            return bool
        if t == "uuid":
            return lambda v: v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))
        if t in ("integer", "bigint", "smallint"):
            return int
        if t in ("double precision", "real", "numeric"):
            return float
        return lambda v: v if isinstance(v, str) else str(v)
    # SQLite target: declared types of the SQLite migrations
    if t == "real":

        def real(v: Any) -> Any:
            if isinstance(v, dt.timedelta):
                return v.total_seconds()
            if isinstance(v, dt.datetime):
                return _to_ts(v)
            return float(v)

        return real
    if t == "integer":
        return int
    return lambda v: v if isinstance(v, str) else str(v)


async def _columns(storage: SqlStorage, table: str) -> dict[str, str]:
    """Column name -> type, as the target database declares them."""
    async with storage._read() as c:
        if isinstance(storage, PostgresStorage):
            rows = await c.fetch(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = $1",
                table,
            )
            return {str(r["column_name"]): str(r["data_type"]) for r in rows}
        rows = await c.fetch(f"SELECT name, type FROM pragma_table_info('{table}')")
        return {str(r["name"]): str(r["type"]) for r in rows}


async def _empty(storage: SqlStorage) -> bool:
    async with storage._read() as c:
        for table, _ in TABLES:
            if await c.fetchrow(f"SELECT 1 FROM {table} LIMIT 1"):
                return False
    return True


async def _copy_table(src: SqlStorage, dst: SqlStorage, table: str, order: str) -> int:
    cols = await _columns(dst, table)
    names = list(cols)
    convert = [_converter(dst.backend, cols[n]) for n in names]
    overriding = (
        " OVERRIDING SYSTEM VALUE"
        if isinstance(dst, PostgresStorage) and table == "money_ledger"
        else ""
    )
    insert = (
        f"INSERT INTO {table} ({', '.join(names)}){overriding}"
        f" VALUES ({', '.join(f'${i + 1}' for i in range(len(names)))})"
    )
    copied = 0
    while True:
        async with src._read() as c:
            rows = await c.fetch(
                f"SELECT {', '.join(names)} FROM {table} ORDER BY {order} LIMIT $1 OFFSET $2",
                BATCH,
                copied,
            )
        if not rows:
            break
        batch = [
            tuple(None if r[n] is None else f(r[n]) for n, f in zip(names, convert, strict=True))
            for r in rows
        ]
        async with dst._tx() as w:
            if table == "npc_memories":
                for row in batch:  # PostgreSQL: the month's partition must exist first
                    await dst._before_npc_memory(w, _to_ts(row[names.index("created_at")]))
            await w.executemany(insert, batch)
        copied += len(rows)
    return copied


async def _after(dst: SqlStorage) -> None:
    if isinstance(dst, PostgresStorage):
        async with dst._tx() as c:
            await c.execute(
                "SELECT setval(pg_get_serial_sequence('money_ledger', 'id'),"
                " (SELECT max(id) FROM money_ledger)) WHERE EXISTS (SELECT 1 FROM money_ledger)"
            )


async def copy_world(
    base: Config, src_url: str, dst_url: str, *, force: bool = False
) -> dict[str, Any]:
    """Copy every table of `src_url` into the empty database `dst_url`."""
    src_cfg, dst_cfg = config_for(base, src_url), config_for(base, dst_url)
    if src_cfg.database_url is None and not Path(src_cfg.sqlite_path).exists():
        raise CopyError(f"SQLite database {src_cfg.sqlite_path} does not exist")
    pending = journal_records(default_journal_path(src_cfg))
    if pending and not force:
        raise CopyError(
            f"the source's journal {default_journal_path(src_cfg)} holds {pending} writes not yet"
            " in its database: start its server once to replay them (or use --force)"
        )
    src, dst = make_storage(src_cfg), make_storage(dst_cfg)
    if not isinstance(src, SqlStorage) or not isinstance(dst, SqlStorage):  # pragma: no cover
        raise CopyError("copy needs two SQL databases")
    owners = (
        [] if force else [make_owner(src_cfg, exclusive=True), make_owner(dst_cfg, exclusive=True)]
    )
    held: list[Owner] = []
    try:
        for o in owners:
            if o is not None:
                try:
                    await o.acquire()
                except DatabaseInUse as err:
                    raise CopyError(f"{err} (stop its server first, or use --force)") from None
                held.append(o)
        await src.open()
        await dst.open()
        await src.migrate()  # what its server would do at start; a no-op when current
        await dst.migrate()
        await dst.maintain(0.0)
        if not await _empty(dst):
            raise CopyError(
                f"the target {_label(dst_cfg)} already holds data: copy into an empty database"
            )
        counts = {}
        for table, order in TABLES:
            counts[table] = await _copy_table(src, dst, table, order)
        await _after(dst)
        return {
            "from": _label(src_cfg),
            "to": _label(dst_cfg),
            "backend": f"{src.backend} -> {dst.backend}",
            "rows": counts,
        }
    finally:
        for s in (src, dst):
            with contextlib.suppress(Exception):  # after a failure the first error matters
                await s.close()
        for o in held:
            await o.release()


def _label(cfg: Config) -> str:
    return mask_url(cfg.database_url) if cfg.database_url else f"sqlite:///{cfg.sqlite_path}"
