"""The local append-only journal: where writes go while the database cannot take them.

Why a file of JSON lines with fsync: it is the only storage that is always there (the database
may be down, Redis is a cache). A critical write acknowledged during an outage has been fsync'd
here first, so a crash right after the acknowledgement loses nothing; on the next start (or when
the database returns) the records are applied in sequence order and the file is emptied.

Each line is `{"seq": N, "crc": CRC32 of seq and op, "op": {...}}`. A line cut short by a crash can only be
the last one and was never acknowledged (the fsync had not returned), so it is dropped; a bad
line in the middle (disk corruption) is copied to `<path>.rejected` and skipped rather than
blocking every record behind it.

The first line is a header naming the database the journal belongs to
(`{"journal": 1, "database_id": ..., "location": ...}`): the database's random id from its
`ganggpt_meta` table. A journal is replayed only into that database; opened for another one it
refuses (JournalMismatch) and the file is left as it is. A journal without a header (written
before headers existed) is accepted once, with a warning.

All file work runs on one dedicated thread: the event loop never waits for the disk, and the
single thread keeps appends in order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import orjson

from server.persistence.ops import Op, OpDecodeError, op_from_dict, op_to_dict
from server.persistence.owner import StartupError

log = logging.getLogger("ganggpt.persistence")

T = TypeVar("T")


class JournalCorrupt(ValueError):
    """A journal line that is not a complete, intact record."""


class JournalMismatch(StartupError):
    """The journal holds writes for another database: replaying it here would corrupt it."""


HEADER_PREFIX = b'{"journal":'


def encode_header(database_id: str, location: str) -> bytes:
    return orjson.dumps({"journal": 1, "database_id": database_id, "location": location}) + b"\n"


def decode_header(line: bytes) -> dict[str, Any] | None:
    if not line.startswith(HEADER_PREFIX):
        return None
    try:
        d = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return d if isinstance(d, dict) else None


def encode_line(seq: int, op: Op) -> bytes:
    body = orjson.dumps(op_to_dict(op))
    return b'{"seq":%d,"crc":%d,"op":%s}\n' % (seq, _crc(seq, body), body)


def _crc(seq: int, body: bytes) -> int:
    """Covers the sequence number too: a damaged seq must not reorder a replay."""
    return zlib.crc32(body, zlib.crc32(b"%d:" % seq))


def decode_line(line: bytes) -> tuple[int, Op]:
    if not line.endswith(b"\n"):
        raise JournalCorrupt("record cut short")
    try:
        d = orjson.loads(line)
        seq, crc, raw = int(d["seq"]), int(d["crc"]), d["op"]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise JournalCorrupt(f"unreadable record: {err}") from None
    if not isinstance(raw, dict) or _crc(seq, orjson.dumps(raw)) != crc:
        raise JournalCorrupt(f"checksum mismatch at seq {seq}")
    try:
        return seq, op_from_dict(raw)
    except OpDecodeError as err:
        raise JournalCorrupt(str(err)) from None


class Journal:
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.rejected_path = Path(f"{path}.rejected")
        self.next_seq = 1
        self.records = 0  # records in the file
        self.size = 0  # bytes in the file
        self.rejected = 0  # lines moved to the .rejected file since start
        self.oldest_at: float | None = None  # wall time of the first append since empty
        self.database_id: str | None = None  # the database this journal belongs to
        self.location = ""
        self._header = b""
        self._fh: BinaryIO | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ganggpt-journal")

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    # --- blocking parts (journal thread only) ---
    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fh = open(self.path, "a+b")  # noqa: SIM115 - held open for the journal's life
        if created:
            _fsync_dir(self.path.parent)
        fh.seek(0)
        complete_end, count, last_seq = 0, 0, 0
        owner: dict[str, Any] | None = None
        bad: list[bytes] = []
        for line in fh:
            if not line.endswith(b"\n"):
                break  # torn tail from a crash: its fsync never returned, never acknowledged
            complete_end += len(line)
            if complete_end == len(line) and (hdr := decode_header(line)) is not None:
                owner = hdr
                continue
            try:
                seq, _ = decode_line(line)
            except JournalCorrupt:
                bad.append(line)
                continue
            if seq <= last_seq:
                bad.append(line)
                continue
            last_seq, count = seq, count + 1
        if count and self.database_id is not None:
            theirs = None if owner is None else owner.get("database_id")
            if theirs is None:
                log.warning(
                    "journal %s has no database header (written by an older server);"
                    " replaying its %d records into %s",
                    self.path,
                    count,
                    self.location,
                )
            elif theirs != self.database_id:
                fh.close()
                raise JournalMismatch(
                    f"JOURNAL_PATH {self.path.resolve()} holds {count} writes for another"
                    f" database ({owner.get('location') if owner else '?'}, id {theirs}), not"
                    f" {self.location} (id {self.database_id}); it was not replayed and is"
                    " left as it is: point JOURNAL_PATH elsewhere, or start the server of"
                    " that database to replay it"
                )
        if bad:
            self._reject_sync(bad)
        if fh.seek(0, os.SEEK_END) != complete_end:
            fh.truncate(complete_end)
            os.fsync(fh.fileno())
        self._fh = fh
        if self.database_id is not None:
            self._header = encode_header(self.database_id, self.location)
            if not count:  # empty (or only a header): make it this database's journal
                self._clear_sync()
        self.records = count
        self.size = fh.seek(0, os.SEEK_END)
        self.next_seq = last_seq + 1
        self.oldest_at = os.path.getmtime(self.path) if count else None

    def _append_sync(self, lines: list[bytes]) -> None:
        fh = self._require()
        data = b"".join(lines)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
        self.size += len(data)

    def _read_sync(self, offset: int, limit: int) -> tuple[list[tuple[int, Op]], int]:
        out: list[tuple[int, Op]] = []
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            while len(out) < limit:
                line = fh.readline()
                if not line or not line.endswith(b"\n"):
                    break
                offset += len(line)
                if line.startswith(HEADER_PREFIX):
                    continue
                try:
                    out.append(decode_line(line))
                except JournalCorrupt:
                    continue  # already copied to .rejected when the journal was opened
        return out, offset

    def _clear_sync(self) -> None:
        fh = self._require()
        fh.truncate(0)
        fh.seek(0)
        if self._header:
            fh.write(self._header)
            fh.flush()
        os.fsync(fh.fileno())
        self.size = len(self._header)

    def _reject_sync(self, lines: list[bytes]) -> None:
        with open(self.rejected_path, "ab") as fh:
            fh.write(b"".join(x if x.endswith(b"\n") else x + b"\n" for x in lines))
            fh.flush()
            os.fsync(fh.fileno())
        self.rejected += len(lines)

    def _close_sync(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _require(self) -> BinaryIO:
        if self._fh is None:
            raise RuntimeError("journal is not open")
        return self._fh

    # --- async API ---
    async def open(self, database_id: str | None = None, location: str = "") -> None:
        """Open (and check) the journal of the database `database_id` (None: no check, for
        tools that only read it)."""
        self.database_id, self.location = database_id, location
        await self._run(self._open_sync)

    async def append(self, ops: Sequence[Op], now: float) -> int:
        """Write and fsync `ops` in order; returns the last sequence number used."""
        if not ops:
            return self.next_seq - 1
        first = self.next_seq
        lines = [encode_line(first + i, op) for i, op in enumerate(ops)]
        await self._run(self._append_sync, lines)
        self.next_seq = first + len(ops)
        self.records += len(ops)
        if self.oldest_at is None:
            self.oldest_at = now
        return self.next_seq - 1

    async def read(self, offset: int, limit: int = 500) -> tuple[list[tuple[int, Op]], int]:
        """Up to `limit` records from byte `offset`, and the offset after them."""
        return await self._run(self._read_sync, offset, limit)

    async def clear(self) -> None:
        """Empty the journal once every record in it is in the database."""
        await self._run(self._clear_sync)
        self.records = 0
        self.oldest_at = None

    async def close(self) -> None:
        await self._run(self._close_sync)
        self._pool.shutdown(wait=True)

    def abandon(self) -> None:
        """Drop the file handle without any further write, as a crashed process would."""
        self._pool.shutdown(wait=False)


def journal_records(path: str | Path) -> int:
    """Complete records in a journal file (header not counted); 0 when there is no file."""
    try:
        with open(path, "rb") as fh:
            return sum(
                1 for line in fh if line.endswith(b"\n") and not line.startswith(HEADER_PREFIX)
            )
    except FileNotFoundError:
        return 0


def journal_owner(path: str | Path) -> str | None:
    """The database id in a journal's header (None: no file or no header)."""
    try:
        with open(path, "rb") as fh:
            hdr = decode_header(fh.readline())
    except FileNotFoundError:
        return None
    return None if hdr is None else hdr.get("database_id")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
