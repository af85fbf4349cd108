"""Placement: the fleet of workers and the choice of where a new execution environment goes.

The fleet is the server's workers (in its own process, or in worker processes of their own); a new
environment goes to the available one with the fewest environments, which spreads a function's environments
across workers. A worker that failed gets nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from firebox.errors import PlatformFailure
from firebox.worker import WorkerApi


class Placement:
    def __init__(self, workers: Sequence[WorkerApi]) -> None:
        self._workers = list(workers)

    @property
    def workers(self) -> Sequence[WorkerApi]:
        return tuple(self._workers)

    def choose(self, among: Callable[[WorkerApi], bool] = lambda worker: True) -> WorkerApi:
        """The least loaded available worker (of those `among` accepts)."""
        candidates = [worker for worker in self._workers if worker.available and among(worker)]
        if not candidates:
            raise PlatformFailure("no worker is available to start an execution environment")
        return min(candidates, key=lambda worker: worker.load())
