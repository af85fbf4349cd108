"""Placement: the fleet of workers and the choice of where a new execution environment goes.

In the embedded mode the fleet is the workers of this process; a new environment goes to the one with
the fewest environments, which spreads a function's environments across workers.
"""

from __future__ import annotations

from collections.abc import Sequence

from firebox.errors import PlatformFailure
from firebox.worker import Worker


class Placement:
    def __init__(self, workers: Sequence[Worker]) -> None:
        self._workers = list(workers)

    @property
    def workers(self) -> Sequence[Worker]:
        return tuple(self._workers)

    def choose(self) -> Worker:
        if not self._workers:
            raise PlatformFailure("no worker is available to start an execution environment")

        def load(worker: Worker) -> int:
            stats = worker.statistics()
            return stats.starting + stats.idle + stats.busy

        return min(self._workers, key=load)
