"""The worker: owns the execution environments of one host.

It starts environments (unpacking code, opening a Runtime API, starting a sandbox), runs invocations on
them, and ends them: on request, when they crash, time out or run out of memory, and all of them at
shutdown. Which environment an invocation goes to is the assignment service's business, not the worker's.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from firebox.errors import (
    EnvironmentGone,
    InvalidZipFile,
    ResourceConflict,
    RestoreFailed,
    SandboxStartFailed,
    SnapshotNotReady,
)
from firebox.observability import LogStore
from firebox.runtime import PYTHON_BOOTSTRAP
from firebox.sandbox import Network, SandboxBackend, SandboxSpec
from firebox.store import FunctionConfig
from firebox.worker.api import KeptEnvironment, WorkerEvents
from firebox.worker.code_cache import CodeCache
from firebox.worker.environment import Environment, EnvState, Origin
from firebox.worker.invocation import Invocation, InvocationResult
from firebox.worker.layer_cache import LayerCache
from firebox.worker.runtimes import Runtimes
from firebox.worker.sandbox_env import NETWORK_VARIABLE, Credentials, sandbox_environment
from firebox.worker.snapshots import (
    ACTIVE,
    PENDING,
    SnapshotKey,
    SnapshotState,
    SnapshotStatus,
    failed_init,
    failed_start,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    region: str
    api_endpoint: str  # where functions reach this Firebox's Lambda API
    credentials: Credentials
    log_budget_bytes: int = 4 * 1024 * 1024  # log output one invocation may write before the rest is dropped
    memory_mb: int = 1 << 20  # what the MemorySize of its environments may add up to (its placement slots)


class Worker:
    def __init__(
        self,
        worker_id: str,
        backend: SandboxBackend,
        code_cache: CodeCache,
        layer_cache: LayerCache,
        runtimes: Runtimes,
        log_store: LogStore,
        settings: WorkerSettings,
    ) -> None:
        self.worker_id = worker_id
        self._backend = backend
        self._code_cache = code_cache
        self._layer_cache = layer_cache
        self._runtimes = runtimes
        self._log_store = log_store
        self._settings = settings
        self._environments: dict[str, Environment] = {}
        self.used_mb = 0  # the MemorySize of its environments, added up
        # SnapStart: each published version's snapshot, and its template environment once there is one.
        self._snapshots: dict[SnapshotKey, tuple[SnapshotStatus, Environment | None]] = {}
        self.events: WorkerEvents | None = None  # told of ended environments and changed snapshots
        self._tasks: asyncio.TaskGroup | None = None

    async def run(self, ready: asyncio.Event) -> None:
        """Serve until cancelled; every environment is destroyed on the way out."""
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                ready.set()
                await asyncio.Future()  # until cancelled
        finally:
            self._tasks = None
            await asyncio.gather(*(env.destroy() for env in self._environments.values()), return_exceptions=True)
            self._environments.clear()
            self.used_mb = 0
            await self._backend.close()

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        if self._tasks is None:
            coroutine.close()
            raise EnvironmentGone("the worker is not running")
        self._tasks.create_task(coroutine, name=name)

    def _new_environment(self, config: FunctionConfig, origin: Origin) -> Environment:
        env_id = uuid.uuid4().hex
        stream = time.strftime("%Y/%m/%d", time.gmtime()) + f"/[{config.version}]{env_id}"
        env = Environment(env_id, config, self._log_store, stream, self._settings.log_budget_bytes, origin)
        env.on_frozen = lambda: self._tell_frozen(env_id)
        self._environments[env_id] = env
        self.used_mb += config.memory_size
        return env

    async def start_environment(self, config: FunctionConfig, *, provisioned: bool = False) -> str:
        """Start a new environment for `config`; it initialises (or is restored) while the caller goes on.
        A `provisioned` one (provisioned concurrency) says so to the function, and is `prewarm`ed next.

        A SnapStart version's environments are restored copies of its snapshot: SnapshotNotReady while the
        snapshot is being made, ResourceConflict when it could not be."""
        template = self._template(config) if config.restores_from_snapshot else None
        env = self._new_environment(config, Origin.RESTORED if template is not None else Origin.INIT)
        try:
            await self._start_sandbox(env, template, provisioned)
        except SandboxStartFailed as exc:
            if template is not None:
                await self._destroy(env)
                raise RestoreFailed(f"Lambda could not restore the snapshot: {exc.message}") from exc
            env.fail_to_start("Runtime.InvalidEntrypoint", f"Error: {exc.message}")
        except BaseException:
            self._forget(env)
            await env.destroy()
            raise
        return env.env_id

    async def _start_sandbox(
        self, env: Environment, template: Environment | None = None, provisioned: bool = False
    ) -> None:
        config = env.config
        launch = self._runtimes.launch(config.runtime or "")
        environ = sandbox_environment(
            config,
            region=self._settings.region,
            runtime_dir=PYTHON_BOOTSTRAP.parent,
            log_stream=env.log_stream,
            execution_env=self._runtimes.execution_env(config.runtime or ""),
            credentials=self._settings.credentials,
            api_endpoint=self._settings.api_endpoint,
            provisioned=provisioned,
        )
        spec = SandboxSpec(
            sandbox_id=env.env_id,
            launch=launch,
            env=environ,
            task_root=await self._code_cache.unpacked(config.code.digest),
            opt_root=await self._layer_cache.opt_root([layer.content.digest for layer in config.layers]),
            memory_mb=config.memory_size,
            ephemeral_storage_mb=config.ephemeral_storage,
            network=Network(config.environment.get(NETWORK_VARIABLE, "none")),
            template=env.origin is Origin.TEMPLATE,
        )
        began = time.perf_counter()
        if template is not None and template.sandbox is not None:
            sandbox = await self._backend.restore(template.sandbox, spec)
        else:
            sandbox = await self._backend.start(spec)
        await env.runtime_api.start(sandbox.runtime_api_socket)
        # A restore's duration counts from here; INIT's from the sandbox's start (its fork and namespaces
        # come before, as Lambda leaves the microVM's start out of Init Duration).
        env.attach(sandbox, began if template is not None else None)
        self._spawn(self._watch(env), f"worker.watch.{env.env_id[:8]}")

    # -- SnapStart --------------------------------------------------------------------------------------

    def snapshot_status(self, config: FunctionConfig) -> SnapshotStatus | None:
        """The state of `config`'s snapshot on this worker; None when there is none (not made, or lost)."""
        known = self._snapshots.get(SnapshotKey.of(config))
        return known[0] if known is not None else None

    def make_snapshot(self, config: FunctionConfig) -> None:
        """Make `config`'s snapshot in the background, unless there is one (or one is being made)."""
        key = SnapshotKey.of(config)
        if key not in self._snapshots:
            self._set_snapshot(key, PENDING, None)
            self._spawn(self._make_snapshot(config, key), f"worker.snapshot.{config.name}.{config.version}")

    async def _make_snapshot(self, config: FunctionConfig, key: SnapshotKey) -> None:
        env = self._new_environment(config, Origin.TEMPLATE)
        self._set_snapshot(key, PENDING, env)
        try:
            await self._start_sandbox(env)
        except (SandboxStartFailed, InvalidZipFile) as exc:  # a package that cannot be unpacked fails the version
            outcome: SnapshotStatus | None = failed_start(exc.message)
        else:
            failure = await env.initialised()
            outcome = failed_init(failure.payload, failure.error_type) if failure is not None else None
        if self._snapshots.get(key) != (PENDING, env):  # dropped meanwhile: the version is gone
            await self._destroy(env)
        elif outcome is None:
            self._set_snapshot(key, ACTIVE, env)
        else:
            self._set_snapshot(key, outcome, None)
            await self._destroy(env)

    def _set_snapshot(self, key: SnapshotKey, status: SnapshotStatus, template: Environment | None) -> None:
        self._snapshots[key] = (status, template)
        self._tell_snapshot(key, status)

    def _tell_snapshot(self, key: SnapshotKey, status: SnapshotStatus | None) -> None:
        if self.events is not None:
            self.events.snapshot_changed(key, status)

    def _tell_frozen(self, env_id: str) -> None:
        if self.events is not None:
            self.events.environment_frozen(env_id)

    def _template(self, config: FunctionConfig) -> Environment:
        key = SnapshotKey.of(config)
        if key not in self._snapshots:
            self.make_snapshot(config)  # lost (the server restarted, or the template died): made again
        status, template = self._snapshots[key]
        if status.state is SnapshotState.FAILED:
            raise ResourceConflict(
                "The operation cannot be performed at this time. The function is currently in the following "
                f"state: Failed ({status.reason})"
            )
        if template is None or status.state is not SnapshotState.ACTIVE:
            raise SnapshotNotReady(
                "Lambda is initializing your function. You can invoke the function when the function state "
                "becomes Active."
            )
        return template

    def drop_snapshots(self, function: str, keep: Callable[[str, str], bool] = lambda version, revision: False) -> None:
        """End the snapshots of `function`, except those `keep(version, revision_id)` spares; the copies
        made from them end with them."""
        for key in [k for k in self._snapshots if k.function == function and not keep(k.version, k.revision_id)]:
            _, template = self._snapshots.pop(key)
            self._tell_snapshot(key, None)
            if template is not None:
                self._spawn(self._destroy(template), f"worker.destroy.{template.env_id[:8]}")

    async def _watch(self, env: Environment) -> None:
        await env.watch()
        if env.state in (EnvState.IDLE, EnvState.STARTING):
            # Ended on its own while nobody used it: nothing to report to, just clean up.
            await self._destroy(env)

    async def prewarm(self, env_id: str) -> str | None:
        """Wait for the environment's INIT ahead of its first invocation: None when it is ready, else why not
        (the environment is then ended)."""
        env = self._environments.get(env_id)
        if env is None:
            return "the environment ended before it was initialised"
        failure = await env.prewarm()
        if failure is None:
            return None
        self._spawn(self._destroy(env), f"worker.destroy.{env_id[:8]}")
        return failure.payload.decode(errors="replace")

    async def invoke(self, env_id: str, invocation: Invocation) -> InvocationResult:
        env = self._environments.get(env_id)
        if env is None:
            raise EnvironmentGone(f"environment {env_id} is not on worker {self.worker_id}")
        try:
            return await env.invoke(invocation)
        except asyncio.CancelledError:
            # Its caller is gone (the server that asked died): nobody will hear the outcome, and the
            # environment is in the middle of an invocation, so it ends.
            env.abandon()
            raise
        finally:
            if env.state is EnvState.GONE:
                self._spawn(self._destroy(env), f"worker.destroy.{env_id[:8]}")

    async def stop_environment(self, env_id: str) -> None:
        env = self._environments.get(env_id)
        if env is not None:
            await self._destroy(env)

    def _forget(self, env: Environment) -> bool:
        if self._environments.pop(env.env_id, None) is None:
            return False
        self.used_mb -= env.config.memory_size
        return True

    async def _destroy(self, env: Environment) -> None:
        if not self._forget(env):
            return
        if self.events is not None:
            self.events.environment_ended(env.env_id)
        if env.origin is Origin.TEMPLATE:
            # A snapshot whose template ended is lost; the next restore makes it again.
            for key, (status, template) in list(self._snapshots.items()):
                if template is env and status.state is SnapshotState.ACTIVE:
                    del self._snapshots[key]
                    self._tell_snapshot(key, None)
        try:
            await env.destroy()
        except OSError as exc:
            log.error("environment %s was not cleaned up fully: %s", env.env_id, exc)

    @property
    def available(self) -> bool:
        return self._tasks is not None

    def load(self) -> int:
        return len(self._environments)

    def room_mb(self) -> int:
        return self._settings.memory_mb - self.used_mb

    async def flush_logs(self) -> None:
        self._log_store.flush()

    def environment_ids(self) -> list[str]:
        return list(self._environments)

    def snapshot_statuses(self) -> list[tuple[SnapshotKey, SnapshotStatus]]:
        return [(key, status) for key, (status, _) in self._snapshots.items()]

    def kept_environments(self) -> list[KeptEnvironment]:
        """The environments a server may adopt from this worker: those idle or initialising, which no
        invocation holds (SnapStart templates are the worker's own)."""
        return [
            KeptEnvironment(
                env.env_id, env.config.name, env.config.version, env.config.revision_id, env.state is EnvState.IDLE
            )
            for env in self._environments.values()
            if env.origin is not Origin.TEMPLATE and env.state in (EnvState.IDLE, EnvState.STARTING)
        ]

    def is_alive(self, env_id: str) -> bool:
        env = self._environments.get(env_id)
        return env is not None and env.state is not EnvState.GONE
