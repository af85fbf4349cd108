"""Provisioned concurrency: environments initialised ahead for a version or an alias, and kept so.

A pool holds `requested` environments of one version. Each is started and initialised (INIT, or the
restore of a SnapStart version) before any invocation needs it, so invocations up to that many never wait
for a cold start; they are never reaped for idleness, and one that dies is replaced. The pool is
IN_PROGRESS until all are initialised, then READY; FAILED (with the reason) when an INIT fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

from firebox.assignment.leases import EnvKey, Lease
from firebox.errors import FireboxError
from firebox.journal import EnvironmentJournal, EnvironmentState
from firebox.placement import Placement
from firebox.store import FunctionConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProvisionedStatus:
    requested: int
    allocated: int  # environments started (initialising or ready)
    available: int  # environments initialised and alive
    status: str  # IN_PROGRESS, READY or FAILED
    reason: str | None = None


class ProvisionedPool:
    def __init__(
        self, config: FunctionConfig, requested: int, placement: Placement, journal: EnvironmentJournal
    ) -> None:
        self.config = config
        self.key = EnvKey.of(config)
        self.requested = requested
        self._placement = placement
        self._journal = journal
        self._allocated: list[Lease] = []
        self._ready: set[str] = set()  # env ids initialised
        self._idle: deque[Lease] = deque()  # ready and not running an invocation
        self._failure: str | None = None
        self._filling: asyncio.Task[None] | None = None

    def status(self) -> ProvisionedStatus:
        alive = [lease for lease in self._allocated if lease.alive]
        available = sum(1 for lease in alive if lease.env_id in self._ready)
        if self._failure is not None:
            return ProvisionedStatus(self.requested, len(alive), available, "FAILED", self._failure)
        ready = available >= self.requested
        return ProvisionedStatus(self.requested, len(alive), available, "READY" if ready else "IN_PROGRESS")

    def take(self) -> Lease | None:
        """An initialised environment that is free, if there is one."""
        while self._idle:
            lease = self._idle.pop()
            if lease.alive:
                return lease
        return None

    def owns(self, lease: Lease) -> bool:
        return lease in self._allocated

    def give_back(self, lease: Lease) -> None:
        if lease.alive:
            self._idle.append(lease)
        else:
            self.check()

    def check(self) -> None:
        """Forget environments that died, and start their replacements."""
        dead = [lease for lease in self._allocated if not lease.alive]
        for lease in dead:
            self._allocated.remove(lease)
            self._ready.discard(lease.env_id)
            self._journal.gone(lease.env_id)
        if dead:
            self._idle = deque(lease for lease in self._idle if lease.alive)
        if self._failure is None and len(self._allocated) < self.requested and self._filling is None:
            self._filling = asyncio.create_task(self._fill(), name=f"assignment.provision.{self.config.name}")
            self._filling.add_done_callback(self._filled)

    def _filled(self, task: asyncio.Task[None]) -> None:
        self._filling = None
        if not task.cancelled() and task.exception() is not None:
            self._failure = f"Lambda could not start an environment: {task.exception()}"

    async def _fill(self) -> None:
        started: list[Lease] = []
        while len(self._allocated) < self.requested:
            try:
                worker = self._placement.choose(self.config.memory_size)
                env_id = await worker.start_environment(self.config, provisioned=True)
            except FireboxError as exc:
                self._failure = exc.message
                return
            self._journal.started(env_id, worker.worker_id, self.config, provisioned=True)
            lease = Lease(worker, env_id, provisioned=True)
            self._allocated.append(lease)
            started.append(lease)
        # INIT runs in every new environment at once; each is free for invocations once its own is done.
        failures = await asyncio.gather(*(lease.worker.prewarm(lease.env_id) for lease in started))
        for lease, failure in zip(started, failures, strict=True):
            if failure is None:
                self._ready.add(lease.env_id)
                self._idle.append(lease)
                self._journal.moved(lease.env_id, EnvironmentState.IDLE)
            else:
                if lease in self._allocated:  # `check` may have found it dead first
                    self._allocated.remove(lease)
                self._journal.gone(lease.env_id)
                self._failure = f"FUNCTION_ERROR_INIT_FAILURE: {failure}"

    async def close(self) -> None:
        """Stop filling, and end every environment of the pool."""
        if self._filling is not None:
            self._filling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._filling
        for lease in self._allocated:
            self._journal.gone(lease.env_id)
            await lease.worker.stop_environment(lease.env_id)
        self._allocated.clear()
        self._idle.clear()
