"""Queue storage in one SQLite file (WAL), with group commit.

Every caller of `commit` adds its changes to the next write and waits; one writer task takes whatever has
gathered, applies it in a single transaction on a thread (so a large batch never stalls the event loop)
and answers every caller once that transaction is committed. Under load, many sends share one commit.

`synchronous=NORMAL` in WAL mode: a committed transaction is in the operating system's page cache before
the caller is answered, so it survives the process being killed (`kill -9`); only an operating-system
crash or power loss can take the last commits with it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from firebox.errors import QueueStorageFailed
from firebox.queues.records import (
    Change,
    Deduplication,
    DeduplicationRecorded,
    DeliveryChanged,
    DeliveryState,
    MessageAdded,
    MessageRecord,
    MessageRemoved,
    QueueDropped,
    QueuePurged,
    QueueRecord,
    QueueSaved,
    QueueState,
    StoredMessage,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    position INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    record BLOB NOT NULL,
    receive_count INTEGER NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    first_receive_ms INTEGER,
    receipt_token TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_id ON messages (queue, message_id);
CREATE TABLE IF NOT EXISTS deduplications (
    queue TEXT NOT NULL,
    deduplication_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sequence_number TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (queue, deduplication_id)
) WITHOUT ROWID;
"""
_encode = msgspec.msgpack.Encoder().encode
_decode_queue = msgspec.msgpack.Decoder(QueueRecord).decode
_decode_message = msgspec.msgpack.Decoder(MessageRecord).decode


@dataclass(frozen=True, slots=True)
class WriteStatistics:
    commits: int  # transactions written
    changes: int  # changes they held
    callers: int  # commit calls they answered


class SqliteQueueStorage:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Used by one thread at a time: start-up reads here, then each write on the writer task's thread.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._pending: list[tuple[Sequence[Change], asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._commits = self._changes = self._callers = 0

    def load(self, now_ms: int) -> QueueState:
        self._db.execute("DELETE FROM deduplications WHERE expires_ms <= ?", (now_ms,))
        queues = [_decode_queue(row[0]) for row in self._db.execute("SELECT record FROM queues")]
        messages = [
            StoredMessage(queue, _decode_message(record), DeliveryState(count, visible_at, first_receive, token))
            for queue, record, count, visible_at, first_receive, token in self._db.execute(
                "SELECT queue, record, receive_count, visible_at_ms, first_receive_ms, receipt_token"
                " FROM messages ORDER BY position"
            )
        ]
        deduplications = [
            Deduplication(*row)
            for row in self._db.execute(
                "SELECT queue, deduplication_id, message_id, sequence_number, expires_ms FROM deduplications"
            )
        ]
        return QueueState(queues, messages, deduplications)

    async def commit(self, changes: Sequence[Change]) -> None:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((changes, future))
        self._wake.set()
        await future

    async def run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                batch, self._pending = self._pending, []
                changes = [change for changes, _ in batch for change in changes]
                write = asyncio.ensure_future(asyncio.to_thread(self._write, changes))
                try:
                    failure = await asyncio.shield(write)
                except asyncio.CancelledError:
                    # The thread finishes its transaction anyway: its callers learn the outcome, not a guess.
                    await asyncio.wait([write])
                    self._answer(batch, write.result())
                    raise
                self._answer(batch, failure)
        finally:
            closed = QueueStorageFailed("The queue storage has closed")
            for _, future in self._pending:
                if not future.done():
                    future.set_exception(closed)
            self._pending = []

    def _answer(
        self, batch: list[tuple[Sequence[Change], asyncio.Future[None]]], failure: sqlite3.Error | None
    ) -> None:
        self._commits += 1
        self._callers += len(batch)
        for changes, future in batch:
            self._changes += len(changes)
            if future.done():  # its caller gave up waiting
                continue
            if failure is None:
                future.set_result(None)
            else:
                error = QueueStorageFailed(f"The queue storage could not commit: {failure}")
                error.__cause__ = failure
                future.set_exception(error)

    def statistics(self) -> WriteStatistics:
        return WriteStatistics(self._commits, self._changes, self._callers)

    def _write(self, changes: list[Change]) -> sqlite3.Error | None:
        """Apply `changes` in one transaction; the error that stopped it, if any (then nothing was applied)."""
        if not changes:
            return None
        db = self._db
        try:
            db.execute("BEGIN")
            for change in changes:
                _apply(db, change)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            return exc
        return None

    def close(self) -> None:
        self._db.close()


def _apply(db: sqlite3.Connection, change: Change) -> None:
    match change:
        case MessageAdded(StoredMessage(queue, record, state)):
            db.execute(
                "INSERT INTO messages (queue, message_id, record, receive_count, visible_at_ms, first_receive_ms,"
                " receipt_token) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (queue, record.message_id, _encode(record), *_state_columns(state)),
            )
        case DeliveryChanged(queue, message_id, state):
            db.execute(
                "UPDATE messages SET receive_count = ?, visible_at_ms = ?, first_receive_ms = ?, receipt_token = ?"
                " WHERE queue = ? AND message_id = ?",
                (*_state_columns(state), queue, message_id),
            )
        case MessageRemoved(queue, message_id):
            db.execute("DELETE FROM messages WHERE queue = ? AND message_id = ?", (queue, message_id))
        case QueueSaved(record):
            db.execute("INSERT OR REPLACE INTO queues (name, record) VALUES (?, ?)", (record.name, _encode(record)))
        case QueuePurged(name):
            db.execute("DELETE FROM messages WHERE queue = ?", (name,))
        case QueueDropped(name):
            db.execute("DELETE FROM queues WHERE name = ?", (name,))
            db.execute("DELETE FROM messages WHERE queue = ?", (name,))
            db.execute("DELETE FROM deduplications WHERE queue = ?", (name,))
        case DeduplicationRecorded(entry):
            db.execute(
                "INSERT OR REPLACE INTO deduplications VALUES (?, ?, ?, ?, ?)",
                (entry.queue, entry.deduplication_id, entry.message_id, entry.sequence_number, entry.expires_ms),
            )


def _state_columns(state: DeliveryState) -> tuple[int, int, int | None, str | None]:
    return state.receive_count, state.visible_at_ms, state.first_receive_ms, state.receipt_token
