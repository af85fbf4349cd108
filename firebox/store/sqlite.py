"""The embedded state store: one SQLite file in WAL mode.

Calls run on the event loop: each is a single indexed statement on a local file (tens of microseconds),
cheaper than a hop to a thread. `synchronous=NORMAL` in WAL mode keeps every committed write across a
process crash; only an operating-system crash can lose the last transactions.

The store is the only writer of its file (one server owns a data directory), so it keeps the entries it
read in memory until it writes their keys: every Invoke reads its function's key, and a read from memory
spares the statement. A cached entry is the same object each time, so a reader may keep what it decoded
from it (the registry does).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from firebox.store.base import Entry, KeyExists, RevisionConflict

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    revision INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sequence (id INTEGER PRIMARY KEY CHECK (id = 0), last INTEGER NOT NULL);
INSERT OR IGNORE INTO sequence (id, last) VALUES (0, 0);
"""
_CACHED_ENTRIES = 4096  # past this many, the cache starts again empty


def open_database(path: Path, schema: str) -> sqlite3.Connection:
    """A SQLite file in WAL mode with `synchronous=NORMAL` (a commit survives the process's death), in
    autocommit mode so that transactions are explicit, with `schema` applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self._db = open_database(path, _SCHEMA)
        self._cache: dict[str, Entry] = {}

    def _next_revision(self) -> int:
        row = self._db.execute("UPDATE sequence SET last = last + 1 WHERE id = 0 RETURNING last").fetchone()
        return int(row[0])

    async def get(self, key: str) -> Entry | None:
        entry = self._cache.get(key)
        if entry is not None:
            return entry
        row = self._db.execute("SELECT value, revision FROM kv WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        if len(self._cache) >= _CACHED_ENTRIES:
            self._cache.clear()
        entry = self._cache[key] = Entry(key, bytes(row[0]), int(row[1]))
        return entry

    async def create(self, key: str, value: bytes) -> int:
        self._cache.pop(key, None)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            revision = self._next_revision()
            try:
                self._db.execute("INSERT INTO kv (key, value, revision) VALUES (?, ?, ?)", (key, value, revision))
            except sqlite3.IntegrityError as exc:
                raise KeyExists(key) from exc
        return revision

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        self._cache.pop(key, None)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            revision = self._next_revision()
            changed = self._db.execute(
                "UPDATE kv SET value = ?, revision = ? WHERE key = ? AND revision = ?",
                (value, revision, key, expected_revision),
            ).rowcount
            if changed != 1:
                raise RevisionConflict(key)
        return revision

    async def delete(self, key: str, expected_revision: int | None = None) -> bool:
        self._cache.pop(key, None)
        if expected_revision is None:
            return self._db.execute("DELETE FROM kv WHERE key = ?", (key,)).rowcount == 1
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            deleted = self._db.execute(
                "DELETE FROM kv WHERE key = ? AND revision = ?", (key, expected_revision)
            ).rowcount
            if deleted != 1:
                raise RevisionConflict(key)
        return True

    async def scan(self, prefix: str, start_after: str = "", limit: int | None = None) -> list[Entry]:
        # Keys are compared as text: every key with the prefix sorts below prefix + U+10FFFF.
        rows = self._db.execute(
            "SELECT key, value, revision FROM kv WHERE key >= ? AND key > ? AND key < ? ORDER BY key LIMIT ?",
            (prefix, start_after, prefix + "\U0010ffff", -1 if limit is None else limit),
        ).fetchall()
        return [Entry(k, bytes(v), int(r)) for k, v, r in rows]

    async def compact(self) -> None:
        """Rewrite the file with only what it holds now: what was overwritten leaves the disk (the WAL too)."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def close(self) -> None:
        self._db.close()
