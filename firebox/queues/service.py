"""The queue service: queues by name, their lifecycle, and the addresses (URL, ARN) that name them.

Working state lives in memory (`LiveQueue`); every change is committed to the storage before the caller
is answered, and a new service reads it all back at start-up. Sending, receiving and deleting messages
live in `delivery.py`, which this class hands its queues to.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from firebox.errors import InvalidQueueParameter, PurgeInProgress, QueueNameTaken, QueueNotFound
from firebox.queues.attributes import DEFAULTS, FIFO_DEFAULTS, checked_attributes, redrive_policy, requested_names
from firebox.queues.base import QueueStorage
from firebox.queues.delivery import Delivery
from firebox.queues.order import Message
from firebox.queues.queue import LiveQueue
from firebox.queues.records import (
    Change,
    MessageAttribute,
    OutgoingMessage,
    QueueDropped,
    QueuePurged,
    QueueRecord,
    QueueSaved,
)

_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_PURGE_INTERVAL_MS = 60_000
_MAX_TAGS = 50


class QueueService(Delivery):
    """Amazon SQS's queues, served from `storage`. `clock` gives the time in seconds (time.time)."""

    def __init__(
        self,
        storage: QueueStorage,
        region: str,
        account_id: str,
        *,
        clock: Callable[[], float] = time.time,
        sweep_interval_s: float = 10.0,
    ) -> None:
        super().__init__(storage, clock, region, account_id)
        self._sweep_interval_s = sweep_interval_s
        state = storage.load(self.now_ms())
        self._queues.update((record.name, LiveQueue(record)) for record in state.queues)
        for stored in state.messages:
            queue = self._queues.get(stored.queue)
            if queue is not None:  # a message committed just after its queue was deleted
                queue.add(Message(stored.record, stored.state), self.now_ms())
                self.note_sequence(stored.record)
        for entry in state.deduplications:
            queue = self._queues.get(entry.queue)
            if queue is not None:
                queue.deduplications[entry.deduplication_id] = entry

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Commit changes and drop messages past their retention period, until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._storage.run(), name="queues.storage")
            tasks.create_task(self._sweep_forever(), name="queues.sweeper")
            if ready is not None:
                ready.set()

    def close(self) -> None:
        self._storage.close()

    # Addresses

    def url(self, name: str, base_url: str) -> str:
        return f"{base_url}/{self.account_id}/{name}"

    def name_of_url(self, url: str) -> str:
        """The name of the queue `url` addresses (any host: clients reach us by many names)."""
        path = urlsplit(url).path if "://" in url else url
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == self.account_id and parts[1] in self._queues:
            return parts[1]
        raise QueueNotFound("The specified queue does not exist.")

    # The interface other Firebox packages use

    def exists(self, queue_arn: str) -> bool:
        name = self.name_of_arn(queue_arn)
        return name is not None and name in self._queues

    async def send(
        self,
        queue_arn: str,
        body: str,
        *,
        attributes: Mapping[str, MessageAttribute] | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """Send `body` to the queue `queue_arn`, durably; its message id. A FIFO queue needs `group_id`
        (and `deduplication_id` unless it deduplicates by content). Raises QueueNotFound."""
        name = self.name_of_arn(queue_arn)
        if name is None or name not in self._queues:
            raise QueueNotFound(f"The queue {queue_arn} does not exist.")
        message = OutgoingMessage(body, dict(attributes or {}), group_id=group_id, deduplication_id=deduplication_id)
        return (await self.send_message(name, message)).message_id

    # Queues

    async def create_queue(self, name: str, attributes: Mapping[str, str], tags: Mapping[str, str]) -> None:
        """Create the queue, or accept one that exists with the same values of the attributes given."""
        fifo = attributes.get("FifoQueue", "").lower() == "true"
        base = name.removesuffix(".fifo") if fifo else name
        if _NAME.fullmatch(base) is None or len(name) > 80:
            raise InvalidQueueParameter(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
                + (" and end with .fifo for a FIFO queue." if fifo else "")
            )
        if fifo and not name.endswith(".fifo"):
            raise InvalidQueueParameter(
                "The name of a FIFO queue can only include alphanumeric characters,"
                " hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length."
            )
        given = checked_attributes(attributes, fifo=fifo, creating=True)
        existing = self._queues.get(name)
        if existing is not None:
            for key, value in given.items():
                if self._stored_value(existing.record, key) != value:
                    raise QueueNameTaken(
                        f"A queue already exists with the same name and a different value for attribute {key}"
                    )
            return
        self._check_redrive(given, fifo)
        self._check_tags(tags)
        now_s = int(self._clock())
        defaults = {**DEFAULTS, **(FIFO_DEFAULTS if fifo else {})}
        stored = {**defaults, **{k: v for k, v in given.items() if v != ""}}
        record = QueueRecord(name, now_s, now_s, stored, dict(tags))
        await self._storage.commit([QueueSaved(record)])
        self._queues.setdefault(name, LiveQueue(record))

    def queue_names(self, prefix: str = "") -> list[str]:
        return sorted(name for name in self._queues if name.startswith(prefix))

    async def delete_queue(self, name: str) -> None:
        queue = self.queue(name)
        del self._queues[name]
        queue.wake_receivers()  # long-polling receivers learn it is gone
        await self._storage.commit([QueueDropped(name)])

    async def purge(self, name: str) -> None:
        queue = self.queue(name)
        now = self.now_ms()
        if queue.last_purge_ms is not None and now - queue.last_purge_ms < _PURGE_INTERVAL_MS:
            raise PurgeInProgress(f"Only one PurgeQueue operation on {name} is allowed every 60 seconds.")
        queue.last_purge_ms = now
        queue.clear()
        await self._storage.commit([QueuePurged(name)])

    def attributes(self, name: str, names: Iterable[str]) -> dict[str, str]:
        """The attributes asked for (by AWS name, "All" for every one) that the queue has."""
        queue = self.queue(name)
        wanted = requested_names(names)
        counts = queue.counts(self.now_ms())
        record = queue.record
        values = {
            **{key: self._stored_value(record, key) for key in record.attributes},
            "ApproximateNumberOfMessages": str(counts.visible),
            "ApproximateNumberOfMessagesNotVisible": str(counts.in_flight),
            "ApproximateNumberOfMessagesDelayed": str(counts.delayed),
            "CreatedTimestamp": str(record.created_s),
            "LastModifiedTimestamp": str(record.modified_s),
            "QueueArn": self.arn(name),
        }
        return {key: value for key, value in values.items() if key in wanted and value != ""}

    async def set_attributes(self, name: str, attributes: Mapping[str, str]) -> None:
        queue = self.queue(name)
        given = checked_attributes(attributes, fifo=queue.record.fifo, creating=False)
        self._check_redrive(given, queue.record.fifo)
        merged = {k: v for k, v in {**queue.record.attributes, **given}.items() if v != ""}
        await self._save(
            queue, QueueRecord(name, queue.record.created_s, int(self._clock()), merged, queue.record.tags)
        )

    def tags(self, name: str) -> dict[str, str]:
        return dict(self.queue(name).record.tags)

    async def tag(self, name: str, tags: Mapping[str, str]) -> None:
        queue = self.queue(name)
        merged = {**queue.record.tags, **tags}
        self._check_tags(merged)
        await self._save(queue, _with_tags(queue.record, merged))

    async def untag(self, name: str, keys: Iterable[str]) -> None:
        queue = self.queue(name)
        removed = set(keys)
        await self._save(
            queue, _with_tags(queue.record, {k: v for k, v in queue.record.tags.items() if k not in removed})
        )

    def dead_letter_sources(self, name: str) -> list[str]:
        """Names of the queues whose redrive policy targets `name`."""
        target = self.arn(self.queue(name).name)
        sources = []
        for queue in self._queues.values():
            policy = queue.record.attributes.get("RedrivePolicy")
            if policy and redrive_policy(policy).target_arn == target:
                sources.append(queue.name)
        return sorted(sources)

    async def _save(self, queue: LiveQueue, record: QueueRecord) -> None:
        await self._storage.commit([QueueSaved(record)])
        queue.record = record

    @staticmethod
    def _stored_value(record: QueueRecord, key: str) -> str:
        return record.attributes.get(key, "false" if key == "FifoQueue" else "")

    def _check_redrive(self, given: Mapping[str, str], fifo: bool) -> None:
        text = given.get("RedrivePolicy")
        if not text:
            return
        target_name = self.name_of_arn(redrive_policy(text).target_arn)
        target = self._queues.get(target_name) if target_name is not None else None
        if target is None:
            raise InvalidQueueParameter(
                f"Value {text} for parameter RedrivePolicy is invalid. Reason: Dead-letter target does not exist."
            )
        if target.record.fifo != fifo:
            raise InvalidQueueParameter(
                f"Value {text} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type"
                " of queue as the source."
            )

    @staticmethod
    def _check_tags(tags: Mapping[str, str]) -> None:
        if len(tags) > _MAX_TAGS:
            raise InvalidQueueParameter(f"Too many tags added for queue: at most {_MAX_TAGS} are allowed.")

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval_s)
            await self.sweep()

    async def sweep(self) -> None:
        """Drop messages past their queue's retention period, and deduplications past their window."""
        now = self.now_ms()
        changes: list[Change] = []
        for queue in list(self._queues.values()):
            queue.prune_deduplications(now)
            for message in queue.expired(now):
                changes.append(self.removal(queue, message))
        if changes:
            await self._storage.commit(changes)


def _with_tags(record: QueueRecord, tags: dict[str, str]) -> QueueRecord:
    return QueueRecord(record.name, record.created_s, record.modified_s, record.attributes, tags)
