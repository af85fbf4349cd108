"""The environment journal: every environment's state, kept in the state store (`firebox.store`).

Assignment reports each change as it happens (`started`, `moved`, `gone`); the journal keeps the latest
state of every environment in memory and, every FLUSH_INTERVAL_S, writes the environments whose state is
not the one last written, each as one key (`env/<id>`) of the store. The invoke path never waits on a
write, and an environment busy and idle again within one interval costs no write at all. A crash loses at
most the last interval's changes: recovery checks the journal against what each worker says it runs, so a
change that was not written can neither leak an environment nor hand one to two invocations. The store is
the revisioned key-value contract that the SQLite store and a cluster's JetStream bucket both implement.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import NamedTuple

import msgspec

from firebox.journal.records import EnvironmentRecord, EnvironmentState
from firebox.store import FunctionConfig, KeyExists, RevisionConflict, StateStore

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.05
_PREFIX = "env/"
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(EnvironmentRecord)


class _Written(NamedTuple):
    """What an environment's key in the store holds."""

    revision: int
    state: EnvironmentState


class EnvironmentJournal:
    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._records: dict[str, EnvironmentRecord] = {}
        self._written: dict[str, _Written] = {}  # what each environment's key holds
        self._changed: set[str] = set()  # environments whose latest state is not written yet

    async def load(self) -> list[EnvironmentRecord]:
        """What the journal holds (a predecessor's environments, at start-up); they become this journal's."""
        records = []
        for entry in await self._store.scan(_PREFIX):
            try:
                record = _decoder.decode(entry.value)
            except msgspec.DecodeError:
                log.error("the journal's entry %s is unreadable; it is dropped", entry.key)
                await self._store.delete(entry.key)
                continue
            self._records[record.env_id] = record
            self._written[record.env_id] = _Written(entry.revision, record.state)
            records.append(record)
        return records

    def started(self, env_id: str, worker_id: str, config: FunctionConfig, *, provisioned: bool = False) -> None:
        """`env_id` of `config` is starting on `worker_id`."""
        self._put(
            EnvironmentRecord(
                env_id,
                worker_id,
                config.name,
                config.version,
                config.revision_id,
                EnvironmentState.STARTING,
                provisioned,
                time.time(),
            )
        )

    def moved(self, env_id: str, state: EnvironmentState) -> None:
        """`env_id` is in `state` now; an environment the journal does not know (or knows gone) is ignored."""
        record = self._records.get(env_id)
        if record is not None and record.state is not state:
            self._put(msgspec.structs.replace(record, state=state, changed_at=time.time()))

    def gone(self, env_id: str) -> None:
        self.moved(env_id, EnvironmentState.GONE)

    def state(self, env_id: str) -> EnvironmentState | None:
        record = self._records.get(env_id)
        return None if record is None else record.state

    def records(self) -> list[EnvironmentRecord]:
        """The live environments, as the journal has them (written or about to be)."""
        return [r for r in self._records.values() if r.state is not EnvironmentState.GONE]

    def _put(self, record: EnvironmentRecord) -> None:
        self._records[record.env_id] = record
        self._changed.add(record.env_id)

    async def run(self) -> None:
        """Write changes out every FLUSH_INTERVAL_S until cancelled, and what is left on the way out."""
        try:
            while True:
                await asyncio.sleep(FLUSH_INTERVAL_S)
                await self.flush()
        finally:
            await asyncio.shield(self.flush())

    async def flush(self) -> None:
        changed, self._changed = self._changed, set()
        for env_id in changed:
            record = self._records[env_id]
            if record.state is EnvironmentState.GONE:
                await self._remove(env_id)
                continue
            written = self._written.get(env_id)
            if written is None or written.state is not record.state:
                await self._write(record, written)

    async def _write(self, record: EnvironmentRecord, written: _Written | None) -> None:
        key = _PREFIX + record.env_id
        value = _encoder.encode(record)
        try:
            if written is None:
                revision = await self._store.create(key, value)
            else:
                revision = await self._store.update(key, value, written.revision)
            self._written[record.env_id] = _Written(revision, record.state)
        except (KeyExists, RevisionConflict):
            # Only another assignment service writes an environment of ours: it is not ours any more.
            log.error("environment %s was changed in the journal by someone else; this service lets it go", key)
            self._records.pop(record.env_id, None)
            self._written.pop(record.env_id, None)

    async def _remove(self, env_id: str) -> None:
        del self._records[env_id]
        written = self._written.pop(env_id, None)
        if written is not None:
            try:
                await self._store.delete(_PREFIX + env_id, written.revision)
            except RevisionConflict:
                log.error("environment %s was changed in the journal by someone else", env_id)
