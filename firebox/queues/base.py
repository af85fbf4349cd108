"""The queue storage contract: read everything once at start-up, then commit changes in order.

The queue service keeps its working state in memory and asks the storage only to make changes durable,
so the contract is two calls: an SQLite file (`sqlite.py`) and a JetStream stream can both keep it.
`commit` returns once its changes are durable; concurrent callers may share one underlying write, and an
empty commit returns once every change committed before it is durable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from firebox.queues.records import Change, QueueState


class QueueStorage(Protocol):
    def load(self, now_ms: int) -> QueueState:
        """Everything stored (deduplications that expired before `now_ms` left out); called once, first."""
        ...

    async def run(self) -> None:
        """Write commits until cancelled; commits wait for this to run."""
        ...

    async def commit(self, changes: Sequence[Change]) -> None:
        """Make `changes` durable, in order; raises QueueStorageFailed when they could not be."""
        ...

    def close(self) -> None: ...
