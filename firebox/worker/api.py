"""What assignment and placement may ask of a worker, wherever it runs.

`Worker` runs in the server's own process; `RemoteWorker` stands for one in a worker process of its own
(`firebox serve --workers N`), over a channel. Both answer alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import msgspec

from firebox.store import FunctionConfig
from firebox.worker.invocation import Invocation, InvocationResult
from firebox.worker.snapshots import SnapshotKey, SnapshotStatus


class KeptEnvironment(msgspec.Struct, frozen=True):
    """An environment that a worker process kept running while it had no server (see `kept_environments`)."""

    env_id: str
    function: str
    version: str
    revision_id: str
    idle: bool  # False: still initialising (its first caller is gone, so nobody waits for it)


class WorkerEvents(Protocol):
    """Who hears what changes in a worker: the channel to the server, in a worker process; assignment, in
    the server."""

    def environment_ended(self, env_id: str) -> None: ...

    def environment_frozen(self, env_id: str) -> None: ...

    def snapshot_changed(self, key: SnapshotKey, status: SnapshotStatus | None) -> None: ...


class WorkerApi(Protocol):
    events: WorkerEvents | None

    @property
    def worker_id(self) -> str: ...

    @property
    def available(self) -> bool:
        """False once the worker has failed: placement sends it nothing more."""
        ...

    def load(self) -> int:
        """How many environments the worker has (what placement spreads)."""
        ...

    def room_mb(self) -> int:
        """Memory not yet given to an environment (each takes its MemorySize), of the worker's share."""
        ...

    async def start_environment(self, config: FunctionConfig, *, provisioned: bool = False) -> str: ...

    async def invoke(self, env_id: str, invocation: Invocation) -> InvocationResult: ...

    async def stop_environment(self, env_id: str) -> None: ...

    async def prewarm(self, env_id: str) -> str | None: ...

    def is_alive(self, env_id: str) -> bool: ...

    def snapshot_status(self, config: FunctionConfig) -> SnapshotStatus | None: ...

    def make_snapshot(self, config: FunctionConfig) -> None: ...

    def drop_snapshots(self, function: str, keep: Callable[[str, str], bool] = ...) -> None: ...

    def kept_environments(self) -> list[KeptEnvironment]:
        """The environments this worker ran for a previous server, which the server may adopt (or stop)."""
        ...

    async def flush_logs(self) -> None:
        """Have every log line written so far stored, so that readers see it."""
        ...
