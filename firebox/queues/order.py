"""The order in which a queue's messages are handed out: roughly by arrival for a standard queue, strictly
within each message group for a FIFO queue.

Both keep only references to messages the queue owns; the queue tells them when a message arrives
(`add`), changes when it is visible (`moved`) or leaves (`forget`), and asks for the next ones (`take`).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from firebox.queues.records import DeliveryState, MessageRecord


@dataclass(slots=True, eq=False)
class Message:
    """A message held in memory: its record and its current delivery state."""

    record: MessageRecord
    state: DeliveryState
    stamp: int = 0  # bumped each time the message changes place: index entries with an older stamp are stale

    def visible(self, now_ms: int) -> bool:
        return self.state.visible_at_ms <= now_ms

    def in_flight(self, now_ms: int) -> bool:
        return self.state.receipt_token is not None and self.state.visible_at_ms > now_ms


class Order(Protocol):
    def add(self, message: Message, now_ms: int) -> None: ...

    def moved(self, message: Message, now_ms: int) -> None:
        """`message`'s visibility changed (it was taken, or its timeout changed)."""
        ...

    def forget(self, message: Message) -> None: ...

    def take(self, now_ms: int, limit: int) -> list[Message]:
        """Up to `limit` visible messages, next in order; the caller then moves or forgets each."""
        ...

    def next_change_ms(self, now_ms: int) -> int | None:
        """When a message not visible now may become visible (None: none will without a change)."""
        ...


class StandardOrder:
    """Visible messages in a queue by arrival, the others in a heap by the time they become visible."""

    def __init__(self) -> None:
        self._ready: deque[tuple[Message, int]] = deque()
        self._later: list[tuple[int, int, Message, int]] = []
        self._tiebreak = itertools.count()

    def add(self, message: Message, now_ms: int) -> None:
        self.moved(message, now_ms)

    def moved(self, message: Message, now_ms: int) -> None:
        message.stamp += 1
        if message.visible(now_ms):
            self._ready.append((message, message.stamp))
        else:
            entry = (message.state.visible_at_ms, next(self._tiebreak), message, message.stamp)
            heapq.heappush(self._later, entry)

    def forget(self, message: Message) -> None:
        message.stamp += 1

    def take(self, now_ms: int, limit: int) -> list[Message]:
        later = self._later
        while later and later[0][0] <= now_ms:
            _, _, message, stamp = heapq.heappop(later)
            if stamp == message.stamp:
                self._ready.append((message, stamp))
        taken: list[Message] = []
        while self._ready and len(taken) < limit:
            message, stamp = self._ready.popleft()
            if stamp == message.stamp:
                taken.append(message)
        return taken

    def next_change_ms(self, now_ms: int) -> int | None:
        later = self._later
        while later and later[0][3] != later[0][2].stamp:
            heapq.heappop(later)
        return later[0][0] if later else None


class FifoOrder:
    """Each message group in order of sequence; a group gives nothing while one of its messages is in flight.

    Messages are only ever taken from the front of a group, one after the other, so the messages of a group
    that were ever received always come first: checking that prefix is enough to know if the group is held.
    """

    def __init__(self) -> None:
        self._groups: dict[str, deque[Message]] = {}

    def add(self, message: Message, now_ms: int) -> None:
        group = message.record.group_id or ""
        self._groups.setdefault(group, deque()).append(message)

    def moved(self, message: Message, now_ms: int) -> None:
        pass  # a message keeps its place in its group whatever its visibility

    def forget(self, message: Message) -> None:
        group_id = message.record.group_id or ""
        group = self._groups.get(group_id)
        if group is None:
            return
        if group and group[0] is message:
            group.popleft()
        elif message in group:
            group.remove(message)
        if not group:
            del self._groups[group_id]

    def take(self, now_ms: int, limit: int) -> list[Message]:
        taken: list[Message] = []
        for group in self._groups.values():
            if len(taken) >= limit:
                break
            if self._held(group, now_ms):
                continue
            for message in group:
                if len(taken) >= limit or not message.visible(now_ms):
                    break  # a delayed message holds back those behind it
                taken.append(message)
        return taken

    @staticmethod
    def _held(group: deque[Message], now_ms: int) -> bool:
        for message in group:
            if message.state.receipt_token is None:
                return False
            if message.in_flight(now_ms):
                return True
        return False

    def next_change_ms(self, now_ms: int) -> int | None:
        soonest: int | None = None
        for group in self._groups.values():
            for message in group:
                if message.state.visible_at_ms > now_ms:
                    soonest = min(soonest or message.state.visible_at_ms, message.state.visible_at_ms)
                if message.state.receipt_token is None:
                    break
        return soonest
