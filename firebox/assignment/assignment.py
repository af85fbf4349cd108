"""Assignment: which execution environment serves an invocation.

Environments are keyed by what they run (function, version, and the revision of its configuration), so
an update of $LATEST sends new invocations to new environments while in-flight ones finish on the old.
Idle environments wait in a stack per key: the most recently used is reused first, which leaves the
others idle long enough to be reaped after the keep-alive. Every invocation holds a slot of its function's
concurrency while it runs, and new environments come within the function's scaling rate
(`concurrency.py`). Every environment's state goes to the journal (`firebox.journal`); a restarted server
recovers from it (`recover`): what its workers still run is adopted, the rest written off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from firebox.assignment.concurrency import Concurrency, ScalingLimit, ScalingRate, rate_throttle
from firebox.assignment.leases import EnvKey, Lease
from firebox.assignment.provisioned import ProvisionedPool, ProvisionedStatus
from firebox.errors import EnvironmentGone, NoRoom, PlatformFailure, Throttled
from firebox.journal import EnvironmentJournal, EnvironmentState
from firebox.placement import Placement
from firebox.store import FunctionConfig
from firebox.worker import (
    PENDING,
    Invocation,
    InvocationResult,
    KeptEnvironment,
    SnapshotKey,
    SnapshotState,
    SnapshotStatus,
    WorkerApi,
)

log = logging.getLogger(__name__)

_ATTEMPTS = 3  # an environment that ended while idle costs a retry on a fresh one, not an error
QUEUE_LIMIT_S = 1.0  # how long an invocation over the scaling rate waits for an environment before a 429
PROVISIONED_CHECK_S = 0.5  # how often provisioned environments are counted, and the dead ones replaced


class Assignment:
    def __init__(
        self,
        placement: Placement,
        journal: EnvironmentJournal,
        keep_alive_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        concurrency: Concurrency | None = None,
        scaling: ScalingLimit | None = None,
    ) -> None:
        self._placement = placement
        self._journal = journal
        self._keep_alive_s = keep_alive_s
        self._clock = clock
        self.concurrency = concurrency or Concurrency(account_limit=1000)
        self._scaling = ScalingRate(scaling or ScalingLimit(), clock)
        self._idle: dict[EnvKey, deque[tuple[Lease, float]]] = {}
        # Invocations waiting for an environment of a key to come free (over the scaling rate), oldest first.
        self._waiting: dict[EnvKey, deque[asyncio.Future[None]]] = {}
        self._provisioned: dict[tuple[str, str], ProvisionedPool] = {}  # (function, qualifier) -> its pool
        self._tasks: asyncio.TaskGroup | None = None

    async def run(self, ready: asyncio.Event) -> None:
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                tasks.create_task(self._reap_idle(), name="assignment.reaper")
                tasks.create_task(self._keep_provisioned(), name="assignment.provisioned")
                tasks.create_task(self._journal.run(), name="assignment.journal")
                ready.set()
        finally:
            for pool in self._provisioned.values():
                await pool.close()
            self._provisioned.clear()

    async def invoke(self, config: FunctionConfig, invocation: Invocation) -> InvocationResult:
        """Run `invocation` on an environment of `config`; Throttled over a concurrency or scaling limit."""
        key = EnvKey(config.name, config.version, config.revision_id)
        with self.concurrency.slot(config.name):
            for _ in range(_ATTEMPTS):
                lease = (
                    self._take_provisioned(key)
                    or self._take_idle(key)
                    or await self._environment_within_rate(config, key)
                )
                self._journal.moved(lease.env_id, EnvironmentState.BUSY)
                try:
                    result = await lease.worker.invoke(lease.env_id, invocation)
                except EnvironmentGone:
                    continue
                finally:
                    alive = lease.alive
                    self._journal.moved(lease.env_id, EnvironmentState.IDLE if alive else EnvironmentState.GONE)
                    self._hand_back_provisioned(lease)
                if not lease.provisioned and alive:
                    self._hand_back(key, lease)
                return result
        raise PlatformFailure(f"could not keep an execution environment of {config.name} alive for an invocation")

    def _hand_back(self, key: EnvKey, lease: Lease) -> None:
        self._idle.setdefault(key, deque()).append((lease, self._clock()))
        waiting = self._waiting.get(key)
        while waiting:
            waiter = waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _environment_within_rate(self, config: FunctionConfig, key: EnvKey) -> Lease:
        """A new environment if the function may start one now; else the first to come free (or the next
        start) within QUEUE_LIMIT_S; else Throttled."""
        deadline = self._clock() + QUEUE_LIMIT_S
        while True:
            wait_s = self._scaling.take(config.name)
            if wait_s == 0.0:
                return await self._start(config)
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise rate_throttle(self.concurrency.reserved(config.name) is not None, wait_s)
            waiter = asyncio.get_running_loop().create_future()
            waiting = self._waiting.setdefault(key, deque())
            waiting.append(waiter)
            try:
                async with asyncio.timeout(min(wait_s, remaining)):
                    await waiter
            except TimeoutError:
                pass
            finally:
                if waiter in waiting:
                    waiting.remove(waiter)
                if not waiting:
                    self._waiting.pop(key, None)
            idle = self._take_idle(key)
            if idle is not None:
                return idle

    def _take_provisioned(self, key: EnvKey) -> Lease | None:
        for pool in self._provisioned.values():
            if pool.key == key and (lease := pool.take()) is not None:
                return lease
        return None

    def _hand_back_provisioned(self, lease: Lease) -> None:
        # To its own pool only: a version provisioned directly and through an alias has two pools of one key.
        if lease.provisioned:
            for pool in self._provisioned.values():
                if pool.owns(lease):
                    pool.give_back(lease)
                    return

    def _take_idle(self, key: EnvKey) -> Lease | None:
        stack = self._idle.get(key)
        while stack:
            lease, _ = stack.pop()
            if lease.alive:
                return lease
            self._journal.gone(lease.env_id)
        return None

    async def _start(self, config: FunctionConfig) -> Lease:
        """A new environment on a worker with room for it, made by ending idle environments (the longest
        idle first) when no worker has; Throttled when all that memory is busy."""
        among = self._holds_snapshot(config)
        while True:
            try:
                worker = self._placement.choose(config.memory_size, among)
                break
            except NoRoom:
                if not await self._end_longest_idle(among):
                    raise Throttled("ConcurrentInvocationLimitExceeded") from None
        env_id = await worker.start_environment(config)
        self._journal.started(env_id, worker.worker_id, config)
        return Lease(worker, env_id)

    async def _end_longest_idle(self, among: Callable[[WorkerApi], bool]) -> bool:
        """End the environment idle the longest on a worker `among` accepts; False when there is none."""
        idle = [(released, key, lease) for key, stack in self._idle.items() for lease, released in stack]
        candidates = [entry for entry in idle if among(entry[2].worker)]
        if not candidates:
            return False
        released, key, lease = min(candidates, key=lambda entry: entry[0])
        self._idle[key].remove((lease, released))
        if not self._idle[key]:
            del self._idle[key]
        self._journal.gone(lease.env_id)
        await lease.worker.stop_environment(lease.env_id)
        return True

    def _holds_snapshot(self, config: FunctionConfig) -> Callable[[WorkerApi], bool]:
        """For a SnapStart version, the workers whose snapshot of it is ready, if any is (a restore elsewhere
        would have to wait for a snapshot of its own); any worker otherwise."""
        if not config.restores_from_snapshot:
            return lambda worker: True
        ready = [w for w in self._placement.workers if w.available and _is_active(w.snapshot_status(config))]
        return (lambda worker: worker in ready) if ready else (lambda worker: True)

    async def flush_logs(self) -> None:
        """Have every worker store the log lines it has so far (readers of logs call this first)."""
        await asyncio.gather(*(w.flush_logs() for w in self._placement.workers if w.available))

    def retire(self, function: str, keep: Callable[[str, str], bool] = lambda version, revision: False) -> None:
        """Stop the idle environments and the SnapStart snapshots of `function`, except those
        `keep(version, revision_id)` spares."""
        for key in [k for k in self._idle if k.function == function and not keep(k.version, k.revision_id)]:
            for lease, _ in self._idle.pop(key):
                self._stop(lease)
        for worker in self._placement.workers:
            worker.drop_snapshots(function, keep)
        for (name, qualifier), pool in list(self._provisioned.items()):
            if name == function and not keep(pool.config.version, pool.config.revision_id):
                self.unprovision(name, qualifier)

    # -- provisioned concurrency ----------------------------------------------------------------------

    def provision(self, qualifier: str, config: FunctionConfig, requested: int) -> None:
        """Keep `requested` environments of `config` initialised for invocations through `qualifier` (a version
        or an alias), replacing what that qualifier had."""
        self.unprovision(config.name, qualifier)
        pool = ProvisionedPool(config, requested, self._placement, self._journal)
        self._provisioned[(config.name, qualifier)] = pool
        pool.check()

    def unprovision(self, function: str, qualifier: str) -> None:
        pool = self._provisioned.pop((function, qualifier), None)
        if pool is not None and self._tasks is not None:
            self._tasks.create_task(pool.close(), name=f"assignment.unprovision.{function}")

    def provisioned_status(self, function: str, qualifier: str) -> ProvisionedStatus | None:
        pool = self._provisioned.get((function, qualifier))
        return pool.status() if pool is not None else None

    def forget(self, function: str) -> None:
        """`function` was deleted: its environments, snapshots, reservation and scaling history go."""
        self.retire(function)
        self.concurrency.reserve(function, None)
        self._scaling.forget(function)

    # -- SnapStart ------------------------------------------------------------------------------------

    def prepare_snapshot(self, config: FunctionConfig) -> None:
        """Have a worker make `config`'s snapshot in the background (PublishVersion, or a restart); while no
        worker has room for it, it stays Pending, and the next look at its state tries again."""
        try:
            self._placement.choose(config.memory_size).make_snapshot(config)
        except NoRoom as exc:
            log.warning("the snapshot of %s:%s waits for room: %s", config.name, config.version, exc.message)

    def snapshot_status(self, config: FunctionConfig) -> SnapshotStatus:
        """The best state of `config`'s snapshot on any worker: the version's State. A snapshot that no
        worker has (lost with a template that died) is made again, and Pending meanwhile."""
        statuses = [s for s in (w.snapshot_status(config) for w in self._placement.workers) if s is not None]
        for state in (SnapshotState.ACTIVE, SnapshotState.PENDING, SnapshotState.FAILED):
            for status in statuses:
                if status.state is state:
                    return status
        self.prepare_snapshot(config)
        return PENDING

    def _stop(self, lease: Lease) -> None:
        self._journal.gone(lease.env_id)
        if self._tasks is None:
            return
        self._tasks.create_task(lease.worker.stop_environment(lease.env_id), name=f"assignment.stop.{lease.env_id[:8]}")

    async def _keep_provisioned(self) -> None:
        """Replace provisioned environments that died, soon after they did."""
        while True:
            await asyncio.sleep(PROVISIONED_CHECK_S)
            for pool in list(self._provisioned.values()):
                pool.check()

    async def _reap_idle(self) -> None:
        while True:
            await asyncio.sleep(max(self._keep_alive_s / 4, 0.05))
            cutoff = self._clock() - self._keep_alive_s
            for key in list(self._idle):
                stack = self._idle[key]
                # The stack is ordered by time of release: the oldest sit at the left.
                while stack and stack[0][1] <= cutoff:
                    self._stop(stack.popleft()[0])
                if not stack:
                    del self._idle[key]

    # -- what workers tell (WorkerEvents) ----------------------------------------------------------------

    def environment_ended(self, env_id: str) -> None:
        self._journal.gone(env_id)

    def environment_frozen(self, env_id: str) -> None:
        if self._journal.state(env_id) is EnvironmentState.IDLE:
            self._journal.moved(env_id, EnvironmentState.FROZEN)

    def snapshot_changed(self, key: SnapshotKey, status: SnapshotStatus | None) -> None:
        pass  # assignment asks the workers for a snapshot's state when it needs it

    # -- recovery --------------------------------------------------------------------------------------

    async def recover(self) -> None:
        """Take over what the journal holds from a predecessor (a server that was killed): an environment
        that a worker still runs, idle, with what the journal says it runs, is adopted as idle; every other
        record is written off as gone, and environments that workers kept but the journal does not know (or
        provisioned ones, which their pools start again) are ended. No environment is left to no one, and none
        is adopted twice: each lives on one worker, which reports it once."""
        kept: dict[str, tuple[WorkerApi, KeptEnvironment]] = {
            env.env_id: (worker, env) for worker in self._placement.workers for env in worker.kept_environments()
        }
        for record in await self._journal.load():
            worker, env = kept.pop(record.env_id, (None, None))
            key = EnvKey(record.function, record.version, record.revision_id)
            if (
                worker is not None
                and env is not None
                and worker.worker_id == record.worker_id
                and env.idle
                and not record.provisioned
                and EnvKey(env.function, env.version, env.revision_id) == key
            ):
                self._journal.moved(record.env_id, EnvironmentState.IDLE)
                self._hand_back(key, Lease(worker, record.env_id))
            else:
                self._journal.gone(record.env_id)
                if worker is not None:
                    self._stop(Lease(worker, record.env_id))
        for worker, env in kept.values():
            self._stop(Lease(worker, env.env_id))
        await self._journal.flush()


def _is_active(status: SnapshotStatus | None) -> bool:
    return status is not None and status.state is SnapshotState.ACTIVE
