"""`ganggpt migrate`, `ganggpt backup DEST`, `ganggpt restore SRC`: operating the data.

The `run_*` functions are synchronous (each runs its own event loop) so the CLI can call them
directly; the `async` versions (`migrate`, `backup`, `restore`) are for callers that already
run a loop, such as tests.

Why backups are a directory with a manifest: a GangGPT deployment has up to three stores that
together are its state. The database (pg_dump custom format for PostgreSQL, the SQLite online
backup API for the embedded file; both consistent while the server runs; restored with psql
in one transaction, see `_pg_restore`), the Redis keys under
REDIS_PREFIX (as JSON with their remaining TTLs, since cached profiles and sessions are only
worth restoring with their expiry), and the local journal when it still holds writes the
database has not got (acknowledged writes must not be missing from a backup). The manifest says
which backend made it, so a restore into the wrong kind of database stops with a clear message.

Restore replaces the contents of the configured stores: it refuses while a server holds the
database (see owner.py) unless forced.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

from config import Config
from config.settings import default_journal_path
from server.cache.keys import CacheKeys
from server.persistence.journal import journal_records
from server.persistence.owner import DatabaseInUse, make_owner
from server.persistence.pg_storage import PostgresStorage
from server.persistence.service import make_storage

MANIFEST = "manifest.json"
FORMAT = 1


class CommandError(RuntimeError):
    """A command failed in a way the operator can act on; the message says how."""


# --- migrate ---
async def migrate(config: Config) -> list[int]:
    """Apply pending schema migrations (and create npc_memories partitions ahead)."""
    storage = make_storage(config)
    await storage.open()
    try:
        applied = await storage.migrate()
        await storage.maintain(time.time())
        return applied
    finally:
        await storage.close()


def run_migrate(config: Config) -> list[int]:
    """Synchronous `migrate`; returns the versions applied now (empty: already current)."""
    return asyncio.run(migrate(config))


# --- backup ---
def _pg_env(config: Config) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PGCONNECT_TIMEOUT", str(max(1, config.database_timeout // 1000)))
    return env


def _tool(name: str) -> str:
    path = shutil.which(name) or f"/usr/bin/{name}"
    if not os.path.exists(path):
        raise CommandError(f"{name} not found: install the PostgreSQL client tools")
    return path


async def _run_tool(args: list[str], env: dict[str, str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        msg = (err or out).decode(errors="replace").strip()
        raise CommandError(f"{Path(args[0]).name} failed (exit {proc.returncode}): {msg}")


def _sqlite_copy(src: str, dst: str) -> None:
    """Page-by-page copy with SQLite's online backup API (consistent while in use)."""
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    s = sqlite3.connect(src)
    try:
        d = sqlite3.connect(dst)
        try:
            s.backup(d)
        finally:
            d.close()
    finally:
        s.close()


def _redis_client(config: Config) -> Any:
    assert config.redis_url
    kwargs: dict[str, Any] = {"socket_timeout": 10.0, "socket_connect_timeout": 5.0}
    if config.redis_password:
        kwargs["password"] = config.redis_password
    return aioredis.from_url(config.redis_url, **kwargs)


async def _redis_dump(config: Config) -> list[dict[str, Any]]:
    r = _redis_client(config)
    out: list[dict[str, Any]] = []
    try:
        async for key in r.scan_iter(match=CacheKeys(config.redis_prefix).pattern(), count=500):
            ttl = await r.pttl(key)
            if ttl == -2:
                continue  # expired meanwhile
            kind = (await r.type(key)).decode()
            entry: dict[str, Any] = {
                "key": key.decode(),
                "ttl_ms": None if ttl < 0 else int(ttl),
            }
            if kind == "string":
                value = await r.get(key)
                if value is None:
                    continue
                entry["type"] = "string"
                entry["value_b64"] = base64.b64encode(value).decode()
            else:  # not written by this server, kept anyway in Redis' own format
                dumped = await r.dump(key)
                if dumped is None:
                    continue
                entry["type"] = "dump"
                entry["value_b64"] = base64.b64encode(dumped).decode()
            out.append(entry)
    finally:
        await r.aclose()
    return out


async def _redis_load(config: Config, entries: list[dict[str, Any]]) -> int:
    r = _redis_client(config)
    try:
        stale = [k async for k in r.scan_iter(match=CacheKeys(config.redis_prefix).pattern())]
        if stale:
            await r.delete(*stale)
        pipe = r.pipeline(transaction=False)
        for e in entries:
            value = base64.b64decode(e["value_b64"])
            ttl = e.get("ttl_ms")
            if e.get("type") == "string":
                pipe.set(e["key"], value, px=ttl if ttl else None)
            else:
                pipe.restore(e["key"], ttl or 0, value, replace=True)
        await pipe.execute()
    finally:
        await r.aclose()
    return len(entries)


async def backup(config: Config, dest: str) -> dict[str, Any]:
    """Write a backup of every configured store into the new directory `dest`."""
    out = Path(dest)
    if out.exists() and any(out.iterdir()):
        raise CommandError(f"{dest} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    storage = make_storage(config)
    if not config.database_url and not Path(config.sqlite_path).exists():
        raise CommandError(f"SQLite database {config.sqlite_path} does not exist")
    await storage.open()
    try:
        version = await storage.schema_version()
    finally:
        await storage.close()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "backend": storage.backend,
        "schema_version": version,
        "files": {},
    }
    if isinstance(storage, PostgresStorage):
        await _run_tool(
            [
                _tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--file={out / 'database.dump'}",
                f"--dbname={storage.url}",
            ],
            _pg_env(config),
        )
        manifest["files"]["database"] = "database.dump"
    else:
        await asyncio.to_thread(_sqlite_copy, config.sqlite_path, str(out / "database.sqlite"))
        manifest["files"]["database"] = "database.sqlite"
    if config.redis_url:
        entries = await _redis_dump(config)
        (out / "redis.json").write_bytes(
            orjson.dumps({"prefix": config.redis_prefix, "keys": entries})
        )
        manifest["files"]["redis"] = "redis.json"
        manifest["redis_keys"] = len(entries)
    journal = Path(default_journal_path(config))
    if journal_records(journal):
        shutil.copyfile(journal, out / "journal.jsonl")
        manifest["files"]["journal"] = "journal.jsonl"
    (out / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return manifest


def run_backup(config: Config, dest: str) -> dict[str, Any]:
    """Synchronous `backup`; returns the manifest written."""
    return asyncio.run(backup(config, dest))


# --- restore ---
_PG_WIPE = """
DO $wipe$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
               AND NOT c.relispartition LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.relname);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = current_schema() AND p.proname LIKE 'ganggpt\\_%' LOOP
        EXECUTE 'DROP FUNCTION IF EXISTS ' || r.sig || ' CASCADE';
    END LOOP;
END
$wipe$;
"""


async def _pg_restore(config: Config, url: str, dump: Path) -> None:
    """Replace the database's tables with the dump's, in one transaction.

    Why not `pg_restore --clean`: it drops a partitioned table's constraints partition by
    partition, which PostgreSQL refuses ("cannot drop inherited constraint"). Instead the dump
    is rendered to SQL and run by psql after a wipe of the schema's tables, all in a single
    transaction: a failed restore leaves the database as it was. The database in DATABASE_URL
    is GangGPT's own; every table in its schema is replaced.
    """
    with tempfile.TemporaryDirectory(prefix="ganggpt-restore-") as tmp:
        wipe, script = Path(tmp) / "wipe.sql", Path(tmp) / "restore.sql"
        wipe.write_text(_PG_WIPE)
        env = _pg_env(config)
        await _run_tool(
            [_tool("pg_restore"), "--no-owner", "--no-privileges", f"--file={script}", str(dump)],
            env,
        )
        await _run_tool(
            [
                _tool("psql"),
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                f"--dbname={url}",
                f"--file={wipe}",
                f"--file={script}",
            ],
            env,
        )


async def restore(config: Config, src: str, *, force: bool = False) -> dict[str, Any]:
    """Replace the configured stores' contents with the backup in `src`.

    Refuses while a server holds the database (its SQLite file lock, or PostgreSQL's shared
    advisory lock), unless `force`: a live server would keep writing its own state over the
    restored one."""
    root = Path(src)
    try:
        manifest: dict[str, Any] = orjson.loads((root / MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError) as err:
        raise CommandError(f"{src} is not a GangGPT backup: {err}") from None
    if manifest.get("format") != FORMAT:
        raise CommandError(f"unsupported backup format {manifest.get('format')!r}")
    storage = make_storage(config)
    if manifest["backend"] != storage.backend:
        hint = (
            "; to move a SQLite world to PostgreSQL use `ganggpt copy`"
            if manifest["backend"] == "sqlite"
            else ""
        )
        raise CommandError(
            f"backup is of a {manifest['backend']} database but the configuration uses"
            f" {storage.backend}{hint}"
        )
    files: dict[str, str] = manifest["files"]
    owner = None if force else make_owner(config, exclusive=True)
    if owner is not None:
        try:
            await owner.acquire()
        except DatabaseInUse as err:
            raise CommandError(f"{err} (stop the server first, or use --force)") from None
    try:
        if isinstance(storage, PostgresStorage):
            await _pg_restore(config, storage.url, root / files["database"])
        else:
            target = config.sqlite_path
            await asyncio.to_thread(_sqlite_copy, str(root / files["database"]), target)
    finally:
        if owner is not None:
            await owner.release()
    restored: dict[str, Any] = {"backend": storage.backend, "database": True}
    if "redis" in files:
        if not config.redis_url:
            restored["redis"] = "skipped: REDIS_URL not set"
        else:
            data = orjson.loads((root / files["redis"]).read_bytes())
            entries = data["keys"]
            old, new = data.get("prefix", config.redis_prefix), config.redis_prefix
            if old != new:
                for e in entries:
                    e["key"] = new + e["key"][len(old) :]
            restored["redis"] = await _redis_load(config, entries)
    journal = Path(default_journal_path(config))
    if journal_records(journal):
        # Writes journaled against the database being replaced must not replay onto the
        # restored one; keep them aside for inspection.
        aside = journal.with_name(f"{journal.name}.pre-restore-{int(time.time())}")
        journal.rename(aside)
        restored["journal_set_aside"] = str(aside)
    if "journal" in files:
        journal.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / files["journal"], journal)
        restored["journal"] = True
    return restored


def run_restore(config: Config, src: str, *, force: bool = False) -> dict[str, Any]:
    """Synchronous `restore`; returns what was restored."""
    return asyncio.run(restore(config, src, force=force))


# --- copy (between databases, across backends) ---
async def copy(config: Config, source: str, target: str, *, force: bool = False) -> dict[str, Any]:
    """Copy the world in `source` into the empty database `target` (see copying.py)."""
    from server.persistence.copying import CopyError, copy_world

    try:
        return await copy_world(config, source, target, force=force)
    except CopyError as err:
        raise CommandError(str(err)) from None


def run_copy(config: Config, source: str, target: str, *, force: bool = False) -> dict[str, Any]:
    """Synchronous `copy`; returns the rows copied per table."""
    return asyncio.run(copy(config, source, target, force=force))
