"""Function logs: every line an environment writes, kept per log group and stream in SQLite.

Appends land in a bounded in-memory batch that a background task writes out every 100 ms, so the invoke
path never waits on the disk. Readers flush first, so what they get is complete up to their call. When the
batch is full (a function printing faster than the disk takes it) lines are dropped and counted, never
buffered without bound.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_FLUSH_INTERVAL_S = 0.1
_MAX_BATCH = 50_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    grp TEXT NOT NULL,
    stream TEXT NOT NULL,
    ts INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_group ON events (grp, ts, id);
"""


@dataclass(frozen=True, slots=True)
class LogEvent:
    event_id: int
    group: str
    stream: str
    timestamp_ms: int
    ingestion_ms: int
    message: str


@dataclass(frozen=True, slots=True)
class LogStream:
    name: str
    first_ms: int
    last_ms: int
    stored_bytes: int


class LogStore:
    def __init__(self, path: Path, max_events: int = 2_000_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._batch: list[tuple[str, str, int, str]] = []
        self._lock = threading.Lock()  # the flusher's thread and readers on the loop share the connection
        self._max_events = max_events
        self.dropped = 0

    def append(self, group: str, stream: str, message: str, timestamp_ms: int | None = None) -> None:
        if len(self._batch) >= _MAX_BATCH:
            self.dropped += 1
            return
        ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        self._batch.append((group, stream, ts, message))

    def flush(self) -> None:
        """Write out every line appended so far (from the loop, or from the flusher's thread)."""
        with self._lock:
            # Taking the batch under the lock keeps the order of ids the order of appends.
            batch, self._batch = self._batch, []
            if not batch:
                return
            with self._db:
                # One transaction for the batch: the connection is in autocommit mode, where each row would
                # otherwise be a commit of its own (most of the cost of a log line).
                self._db.execute("BEGIN")
                self._db.executemany("INSERT INTO events (grp, stream, ts, message) VALUES (?, ?, ?, ?)", batch)
        if self.dropped:
            log.warning("log store dropped %d lines: functions wrote faster than the disk took them", self.dropped)
            self.dropped = 0

    def _trim(self) -> None:
        with self._lock:
            self._delete_oldest()

    def _delete_oldest(self) -> None:
        newest = self._db.execute("SELECT MAX(id) FROM events").fetchone()[0]
        if newest is not None and newest > self._max_events:
            self._db.execute("DELETE FROM events WHERE id <= ?", (newest - self._max_events,))

    async def run(self) -> None:
        """Write batches out until cancelled; the last batch is written on the way out."""
        try:
            ticks = 0
            while True:
                await asyncio.sleep(_FLUSH_INTERVAL_S)
                # SQLite lets go of the GIL while it writes: a thread keeps the event loop free meanwhile.
                await asyncio.to_thread(self.flush)
                ticks += 1
                if ticks % 600 == 0:
                    await asyncio.to_thread(self._trim)
        finally:
            self.flush()

    def filter(
        self,
        group: str,
        start_ms: int = 0,
        end_ms: int | None = None,
        streams: list[str] | None = None,
        after_id: int = 0,
        contains: str | None = None,
        limit: int = 10_000,
    ) -> list[LogEvent]:
        self.flush()
        sql = "SELECT id, grp, stream, ts, message FROM events WHERE grp = ? AND ts >= ? AND id > ?"
        args: list[object] = [group, start_ms, after_id]
        if end_ms is not None:
            sql += " AND ts <= ?"
            args.append(end_ms)
        if streams:
            sql += f" AND stream IN ({','.join('?' * len(streams))})"
            args.extend(streams)
        if contains:
            sql += " AND instr(message, ?) > 0"
            args.append(contains)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        with self._lock:
            return [LogEvent(i, g, s, t, t, m) for i, g, s, t, m in self._db.execute(sql, args)]

    def streams(self, group: str) -> list[LogStream]:
        self.flush()
        with self._lock:
            rows = self._db.execute(
                "SELECT stream, MIN(ts), MAX(ts), SUM(LENGTH(message)) FROM events WHERE grp = ? GROUP BY stream "
                "ORDER BY MAX(ts) DESC",
                (group,),
            ).fetchall()
        return [LogStream(name, first, last, size) for name, first, last, size in rows]

    def groups(self, prefix: str = "") -> list[str]:
        self.flush()
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT grp FROM events WHERE grp >= ? AND grp < ? ORDER BY grp",
                (prefix, prefix + "\U0010ffff"),
            ).fetchall()
        return [row[0] for row in rows]

    def close(self) -> None:
        self.flush()
        self._db.close()
