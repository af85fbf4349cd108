"""Placement: the fleet of workers and the choice of where a new execution environment goes.

The fleet is the server's workers (in its own process, or in worker processes of their own). Each has
memory for so many environments (its slots: the MemorySize of its environments adds up to at most its
share of the host's memory); a new environment goes to the available worker with room for it that has the
fewest environments, which spreads a function's environments across workers. A worker that failed gets
nothing until it is back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from firebox.errors import NoRoom, PlatformFailure
from firebox.worker import WorkerApi


class Placement:
    def __init__(self, workers: Sequence[WorkerApi]) -> None:
        self._workers = list(workers)

    @property
    def workers(self) -> Sequence[WorkerApi]:
        return tuple(self._workers)

    def choose(self, memory_mb: int, among: Callable[[WorkerApi], bool] = lambda worker: True) -> WorkerApi:
        """The least loaded available worker (of those `among` accepts) with room for an environment of
        `memory_mb`; NoRoom when none has."""
        candidates = [worker for worker in self._workers if worker.available and among(worker)]
        if not candidates:
            raise PlatformFailure("no worker is available to start an execution environment")
        roomy = [worker for worker in candidates if worker.room_mb() >= memory_mb]
        if not roomy:
            raise NoRoom(f"no worker has {memory_mb} MB free for another execution environment")
        return min(roomy, key=lambda worker: worker.load())
