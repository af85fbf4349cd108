"""One queue in memory: its messages, the order they go out in, its deduplication window, and the
receivers long-polling it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from firebox.queues.order import FifoOrder, Message, Order, StandardOrder
from firebox.queues.records import Deduplication, QueueCounts, QueueRecord


class LiveQueue:
    def __init__(self, record: QueueRecord) -> None:
        self.record = record
        self.messages: dict[str, Message] = {}
        self.order: Order = FifoOrder() if record.fifo else StandardOrder()
        self.deduplications: dict[str, Deduplication] = {}
        self.last_purge_ms: int | None = None
        self._waiters: set[asyncio.Future[None]] = set()

    @property
    def name(self) -> str:
        return self.record.name

    def add(self, message: Message, now_ms: int) -> None:
        self.messages[message.record.message_id] = message
        self.order.add(message, now_ms)
        if message.visible(now_ms):
            self.wake_receivers()

    def remove(self, message: Message) -> None:
        if self.messages.pop(message.record.message_id, None) is not None:
            self.order.forget(message)

    def clear(self) -> None:
        for message in self.messages.values():
            self.order.forget(message)
        self.messages.clear()

    def expired(self, now_ms: int) -> Iterator[Message]:
        """Messages kept longer than the retention period (the oldest first)."""
        oldest_kept = now_ms - self.record.number("MessageRetentionPeriod") * 1000
        return (m for m in list(self.messages.values()) if m.record.sent_ms <= oldest_kept)

    def counts(self, now_ms: int) -> QueueCounts:
        visible = in_flight = delayed = 0
        for message in self.messages.values():
            if message.visible(now_ms):
                visible += 1
            elif message.state.receipt_token is not None:
                in_flight += 1
            else:
                delayed += 1
        return QueueCounts(visible, in_flight, delayed)

    def wake_receivers(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for_change(self, timeout_s: float) -> None:
        """Return when a message may have become available, or after `timeout_s`."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            async with asyncio.timeout(max(timeout_s, 0)):
                await waiter
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)

    def prune_deduplications(self, now_ms: int) -> None:
        for key in [k for k, entry in self.deduplications.items() if entry.expires_ms <= now_ms]:
            del self.deduplications[key]
