"""The durable queue of asynchronous events: one SQLite file in WAL mode, written in group commits.

An accepted event is inserted and committed before Invoke answers 202: a commit in WAL mode with
`synchronous=NORMAL` reaches the operating system before the call returns, so it survives a kill -9 of the
server (only an operating-system crash can lose it). Every write made during one turn of the event loop
goes into one transaction, so a burst of Invokes pays for one commit, not one each.

The progress of an event (attempts, outcome, deliveries owed) is written the same way but nobody waits
for it: progress lost in a crash only means an attempt or a delivery is made again, which at-least-once
delivery allows. The contract is small on purpose: a JetStream stream with acks can implement it too.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Protocol

import msgspec

from firebox.events.records import AsyncEvent, Delivery, EventSummary, Fate, Progress
from firebox.store import open_database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    function TEXT NOT NULL,
    qualifier TEXT,
    payload BLOB NOT NULL,
    client_context TEXT,
    received REAL NOT NULL,
    due REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    tries INTEGER NOT NULL DEFAULT 0,
    last_outcome TEXT NOT NULL DEFAULT '',
    fate TEXT,
    deliveries BLOB,
    failed_deliveries INTEGER NOT NULL DEFAULT 0,
    finished REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_by_function ON events (function, received);
CREATE INDEX IF NOT EXISTS unfinished_events ON events (due) WHERE finished IS NULL;
"""
_encode_deliveries = msgspec.msgpack.Encoder().encode
_decode_deliveries = msgspec.msgpack.Decoder(list[Delivery]).decode


class EventStore(Protocol):
    def append(self, event: AsyncEvent) -> asyncio.Future[None]:
        """Store a new event; the future is done once the event is durable."""
        ...

    def save(self, progress: Progress, now: float) -> None:
        """Record an event's progress, durably soon (nobody waits for it)."""
        ...

    def unfinished(self) -> list[Progress]:
        """The progress of every event that is not finished: what a restart resumes."""
        ...

    def event(self, request_id: str) -> AsyncEvent | None: ...

    def summaries(self, function_name: str, limit: int) -> list[EventSummary]:
        """The latest events of a function, newest first."""
        ...

    def forget_finished(self, before: float) -> int:
        """Drop finished events that finished before `before`; returns how many."""
        ...

    def close(self) -> None: ...


class SqliteEventStore:
    def __init__(self, path: Path) -> None:
        self._db = open_database(path, _SCHEMA)
        self._new: list[tuple[AsyncEvent, asyncio.Future[None]]] = []
        self._changed: dict[str, tuple[Progress, float]] = {}
        self._flush_scheduled = False

    def append(self, event: AsyncEvent) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._new.append((event, done))
        self._schedule(loop)
        return done

    def save(self, progress: Progress, now: float) -> None:
        self._changed[progress.request_id] = (progress, now)
        self._schedule(asyncio.get_running_loop())

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        new, self._new = self._new, []
        changed, self._changed = self._changed, {}
        try:
            with self._db:
                self._db.executemany(
                    "INSERT INTO events (id, function, qualifier, payload, client_context, received, due)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            e.request_id,
                            e.function_name,
                            e.qualifier,
                            e.payload,
                            e.client_context,
                            e.received_at,
                            e.received_at,
                        )
                        for e, _ in new
                    ],
                )
                self._db.executemany(
                    "UPDATE events SET due = ?, attempts = ?, tries = ?, last_outcome = ?, fate = ?, deliveries = ?,"
                    " failed_deliveries = ?, finished = ? WHERE id = ?",
                    [_progress_row(progress, now) for progress, now in changed.values()],
                )
        except sqlite3.Error as exc:
            for _, done in new:
                if not done.done():
                    done.set_exception(exc)
            raise
        for _, done in new:
            if not done.done():
                done.set_result(None)

    def unfinished(self) -> list[Progress]:
        rows = self._db.execute(
            "SELECT id, due, attempts, tries, last_outcome, fate, deliveries, failed_deliveries"
            " FROM events WHERE finished IS NULL"
        ).fetchall()
        return [
            Progress(
                request_id=row[0],
                due=row[1],
                attempts=row[2],
                tries=row[3],
                last_outcome=row[4],
                fate=Fate(row[5]) if row[5] else None,
                deliveries=_decode_deliveries(row[6]) if row[6] else [],
                failed_deliveries=row[7],
            )
            for row in rows
        ]

    def event(self, request_id: str) -> AsyncEvent | None:
        row = self._db.execute(
            "SELECT function, qualifier, payload, client_context, received FROM events WHERE id = ?", (request_id,)
        ).fetchone()
        if row is None:
            return None
        return AsyncEvent(request_id, row[0], row[1], bytes(row[2]), row[4], row[3])

    def summaries(self, function_name: str, limit: int) -> list[EventSummary]:
        rows = self._db.execute(
            "SELECT id, qualifier, received, attempts, tries, last_outcome, fate, deliveries, failed_deliveries,"
            " finished FROM events WHERE function = ? ORDER BY received DESC LIMIT ?",
            (function_name, limit),
        ).fetchall()
        return [
            EventSummary(
                request_id=row[0],
                function_name=function_name,
                qualifier=row[1],
                received_at=row[2],
                attempts=row[3],
                tries=row[4],
                last_outcome=row[5],
                fate=row[6],
                pending_deliveries=len(_decode_deliveries(row[7])) if row[7] else 0,
                failed_deliveries=row[8],
                finished_at=row[9],
            )
            for row in rows
        ]

    def forget_finished(self, before: float) -> int:
        return int(self._db.execute("DELETE FROM events WHERE finished < ?", (before,)).rowcount)

    def close(self) -> None:
        if self._new or self._changed:
            self._flush()
        self._db.close()


def _progress_row(progress: Progress, now: float) -> tuple[object, ...]:
    finished = now if progress.fate is not None and not progress.deliveries else None
    deliveries = _encode_deliveries(progress.deliveries) if progress.deliveries else None
    return (
        progress.due,
        progress.attempts,
        progress.tries,
        progress.last_outcome,
        progress.fate,
        deliveries,
        progress.failed_deliveries,
        finished,
        progress.request_id,
    )
