"""A worker in a process of its own, as the server sees it: the same calls as `Worker`, over a channel.

The server starts the process (`firebox worker-process`), then sends it requests and reads its replies and
events. It keeps what it must answer without asking (which environments are alive, each snapshot's state)
from those events. It pings the worker every second; a worker that stops answering, or whose process ends,
has failed: what was waiting on it fails with a PlatformFailure (a ServiceException to callers), its
environments count as gone, and placement sends it nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from firebox.errors import PlatformFailure
from firebox.sandbox import die_with_parent
from firebox.store import FunctionConfig
from firebox.worker.api import KeptEnvironment, WorkerEvents
from firebox.worker.channel import ChannelClosed, read_frame, rebuild_error, write_frame
from firebox.worker.invocation import Invocation, InvocationResult
from firebox.worker.snapshots import PENDING, SnapshotKey, SnapshotStatus

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
HEARTBEAT_DEADLINE_S = 5.0  # a busy worker answers pings in milliseconds; past this it is taken for hung
_START_DEADLINE_S = 60.0
_STOP_DEADLINE_S = 30.0


class RemoteWorker:
    def __init__(self, worker_id: str, command: Sequence[str], env: Mapping[str, str]) -> None:
        self._worker_id = worker_id
        self._command = list(command)  # the worker process's command line; "{fd}" stands for its channel
        self._env = dict(env)
        self._process: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count()
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._environments: set[str] = set()
        self._starting = 0  # environments asked for and not yet answered: placement counts them too
        self._snapshots: dict[SnapshotKey, SnapshotStatus] = {}
        self._failed = False
        self._kept: list[KeptEnvironment] = []
        self.events: WorkerEvents | None = None  # told of what the worker reports, once mirrored here

    @property
    def worker_id(self) -> str:
        return self._worker_id

    @property
    def available(self) -> bool:
        return self._writer is not None and not self._failed

    def load(self) -> int:
        return len(self._environments) + self._starting

    # -- the process --------------------------------------------------------------------------------------

    async def run(self, ready: asyncio.Event) -> None:
        """Start the worker process and serve its channel until cancelled or until the worker fails."""
        ours, theirs = socket.socketpair()
        command = [part.replace("{fd}", str(theirs.fileno())) for part in self._command]
        try:
            self._process = await asyncio.create_subprocess_exec(
                *command,
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sys.stderr.fileno(),
                env=self._env,
                preexec_fn=die_with_parent,  # a worker process never outlives its server
            )
        finally:
            theirs.close()
        reader, self._writer = await asyncio.open_connection(sock=ours)
        watching: list[asyncio.Task[None]] = []
        try:
            async with asyncio.timeout(_START_DEADLINE_S):
                hello = await read_frame(reader)
            if hello.get("event") != "ready":
                raise ChannelClosed(f"the worker process said {hello!r} first")
            ready.set()
            watching = [
                asyncio.create_task(self._read(reader), name=f"{self._worker_id}.channel"),
                asyncio.create_task(self._heartbeat(), name=f"{self._worker_id}.heartbeat"),
            ]
            done, _ = await asyncio.wait(watching, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # each ends only by raising
        except (ChannelClosed, TimeoutError) as exc:
            if not ready.is_set():  # it never worked: the server cannot go on as configured
                raise PlatformFailure(f"worker {self._worker_id} did not start: {exc}") from exc
            log.error("worker %s failed: %s", self._worker_id, exc)
            self._fail(f"worker {self._worker_id} failed: {exc}")
        finally:
            for task in watching:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ChannelClosed, TimeoutError):
                    await task
            self._fail(f"worker {self._worker_id} stopped")
            await self._stop_process()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        """Replies and events, until the channel closes (ChannelClosed)."""
        while True:
            message = await read_frame(reader)
            event = message.get("event")
            if event == "ended":
                self._ended(str(message["env_id"]))
            elif event == "frozen":
                if self.events is not None:
                    self.events.environment_frozen(str(message["env_id"]))
            elif event == "snapshot":
                key = msgspec.convert(message["key"], SnapshotKey)
                if message["status"] is None:
                    self._snapshots.pop(key, None)
                else:
                    self._snapshots[key] = msgspec.convert(message["status"], SnapshotStatus)
            else:
                waiter = self._pending.pop(int(message.get("id", -1)), None)
                if waiter is not None and not waiter.done():
                    if "error" in message:
                        waiter.set_exception(rebuild_error(message["error"]))
                    else:
                        waiter.set_result(message.get("ok"))

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                async with asyncio.timeout(HEARTBEAT_DEADLINE_S):
                    await self._call("ping")
            except TimeoutError as exc:
                raise ChannelClosed(f"no answer to a ping within {HEARTBEAT_DEADLINE_S:.0f} s") from exc

    def _fail(self, reason: str) -> None:
        self._failed = True
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(PlatformFailure(reason))
        self._pending.clear()
        for env_id in list(self._environments):
            self._ended(env_id)
        self._snapshots.clear()

    def _ended(self, env_id: str) -> None:
        self._environments.discard(env_id)
        if self.events is not None:
            self.events.environment_ended(env_id)

    async def _stop_process(self) -> None:
        if self._writer is not None:
            self._writer.close()  # the worker ends its environments and exits once its channel closes
        process = self._process
        if process is None or process.returncode is not None:
            return
        try:
            async with asyncio.timeout(_STOP_DEADLINE_S):
                await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            await process.wait()

    async def _call(self, op: str, **args: Any) -> Any:
        if self._writer is None or self._failed:
            raise PlatformFailure(f"worker {self._worker_id} is not available")
        call_id = next(self._ids)
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = waiter
        try:
            write_frame(self._writer, {"id": call_id, "op": op, "args": args})
            return await waiter
        finally:
            self._pending.pop(call_id, None)

    # -- what assignment asks -----------------------------------------------------------------------------

    async def start_environment(self, config: FunctionConfig, *, provisioned: bool = False) -> str:
        self._starting += 1
        try:
            env_id = str(await self._call("start", config=config, provisioned=provisioned))
        finally:
            self._starting -= 1
        self._environments.add(env_id)
        return env_id

    async def invoke(self, env_id: str, invocation: Invocation) -> InvocationResult:
        return msgspec.convert(await self._call("invoke", env_id=env_id, invocation=invocation), InvocationResult)

    async def stop_environment(self, env_id: str) -> None:
        await self._call("stop", env_id=env_id)

    async def prewarm(self, env_id: str) -> str | None:
        failure = await self._call("prewarm", env_id=env_id)
        return None if failure is None else str(failure)

    def is_alive(self, env_id: str) -> bool:
        return env_id in self._environments

    def snapshot_status(self, config: FunctionConfig) -> SnapshotStatus | None:
        return self._snapshots.get(SnapshotKey.of(config))

    def make_snapshot(self, config: FunctionConfig) -> None:
        key = SnapshotKey.of(config)
        if key not in self._snapshots and self.available:
            self._snapshots[key] = PENDING  # until the worker says otherwise
            self._send_and_forget("make_snapshot", config=config)

    def drop_snapshots(self, function: str, keep: Callable[[str, str], bool] = lambda version, revision: False) -> None:
        dropped = [k for k in self._snapshots if k.function == function and not keep(k.version, k.revision_id)]
        for key in dropped:
            del self._snapshots[key]
        if dropped and self.available:
            self._send_and_forget(
                "drop_snapshots", function=function, versions=[(k.version, k.revision_id) for k in dropped]
            )

    def kept_environments(self) -> list[KeptEnvironment]:
        return list(self._kept)

    async def flush_logs(self) -> None:
        with contextlib.suppress(PlatformFailure):
            await self._call("flush_logs")

    def _send_and_forget(self, op: str, **args: Any) -> None:
        assert self._writer is not None
        write_frame(self._writer, {"id": next(self._ids), "op": op, "args": args})
