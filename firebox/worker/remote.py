"""A worker in a process of its own, as the server sees it: the same calls as `Worker`, over a channel.

The worker process listens on a unix socket in the data dir (`workers/<id>.sock`); the server connects,
sends it requests and reads its replies and events. It keeps what it must answer without asking (which
environments are alive, each snapshot's state) from those events. It pings the worker every second; a
worker that stops answering, or whose process ends, has failed: what was waiting on it fails with a
PlatformFailure (a ServiceException to callers), its environments count as gone, and placement sends it
nothing more until a new worker process, started in its place, is ready.

A worker process outlives a server that is killed, for a while (`reattach_s`): a server that starts on the
same data dir connects to it again, and if the worker runs the same code with the same settings (its
fingerprint says so), adopts it with the idle environments it kept. Otherwise it stops that worker and
starts its own. A server that stops normally stops its workers.
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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from firebox.errors import PlatformFailure
from firebox.store import FunctionConfig
from firebox.worker.api import KeptEnvironment, WorkerEvents
from firebox.worker.channel import ChannelClosed, FrameChannel, Hello, rebuild_error
from firebox.worker.invocation import Invocation, InvocationResult
from firebox.worker.snapshots import PENDING, SnapshotKey, SnapshotStatus

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
HEARTBEAT_DEADLINE_S = 5.0  # a busy worker answers pings in milliseconds; past this it is taken for hung
_START_DEADLINE_S = 60.0
_STOP_DEADLINE_S = 30.0
RESTART_DELAY_S = 1.0  # before a failed worker's replacement starts
RESTART_DELAY_MAX_S = 30.0


class RemoteWorker:
    def __init__(
        self,
        worker_id: str,
        command: Sequence[str],
        env: Mapping[str, str],
        socket_path: Path,
        fingerprint: str,
        memory_mb: int,
    ) -> None:
        self._worker_id = worker_id
        self._command = list(command)  # the worker process's command line; "{fd}" stands for its listening socket
        self._env = dict(env)
        self._socket_path = socket_path
        self._fingerprint = fingerprint
        self._memory_mb = memory_mb  # what the MemorySize of its environments may add up to
        self._used_mb = 0  # as the worker last said (every frame it sends says)
        self._starting_mb = 0  # environments asked for and not yet answered
        self._process: asyncio.subprocess.Process | None = None  # when this server started it
        self._pid: int | None = None
        self._channel: FrameChannel | None = None
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
        return self._channel is not None and not self._failed

    def load(self) -> int:
        return len(self._environments) + self._starting

    def room_mb(self) -> int:
        return self._memory_mb - self._used_mb - self._starting_mb

    # -- the process --------------------------------------------------------------------------------------

    async def run(self, ready: asyncio.Event) -> None:
        """Adopt the worker process a killed predecessor left, or start one, and serve its channel until
        cancelled (then stop it). A worker that fails is replaced by a new process after RESTART_DELAY_S,
        a delay that doubles while new ones fail to start (up to RESTART_DELAY_MAX_S)."""
        try:
            try:
                await self._connect(self._adopt_or_spawn)
            except (ChannelClosed, TimeoutError, OSError) as exc:
                raise PlatformFailure(f"worker {self._worker_id} did not start: {exc}") from exc
            ready.set()
            while True:
                await self._serve()
                await self._stop_process(graceful=False)
                delay_s = RESTART_DELAY_S
                while True:
                    await asyncio.sleep(delay_s)
                    try:
                        await self._connect(self._spawn)
                        break
                    except (ChannelClosed, TimeoutError, OSError) as exc:
                        log.error("worker %s could not be started again: %s", self._worker_id, exc)
                        await self._stop_process(graceful=False)
                        delay_s = min(delay_s * 2, RESTART_DELAY_MAX_S)
                log.info("worker %s started again (pid %s)", self._worker_id, self._pid)
        finally:
            self._fail(f"worker {self._worker_id} stopped")
            await self._stop_process(graceful=True)

    async def _connect(self, attach: Callable[[], Awaitable[FrameChannel]]) -> None:
        async with asyncio.timeout(_START_DEADLINE_S):
            channel = await attach()
        self._channel = channel
        self._failed = False
        channel.deliver_to(self._received)

    async def _serve(self) -> None:
        """Read the worker's channel and ping it, until it fails."""
        assert self._channel is not None
        watching = [
            asyncio.create_task(self._channel.wait_closed(), name=f"{self._worker_id}.channel"),
            asyncio.create_task(self._heartbeat(), name=f"{self._worker_id}.heartbeat"),
        ]
        try:
            done, _ = await asyncio.wait(watching, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # each ends only by raising
        except (ChannelClosed, TimeoutError) as exc:
            log.error("worker %s failed: %s", self._worker_id, exc)
            self._fail(f"worker {self._worker_id} failed: {exc}")
        finally:
            for task in watching:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ChannelClosed, TimeoutError):
                    await task

    async def _adopt_or_spawn(self) -> FrameChannel:
        return await self._adopt() or await self._spawn()

    async def _adopt(self) -> FrameChannel | None:
        """The channel to a worker process that a killed predecessor left on our socket, if it is one we
        would have started ourselves; a worker that differs is stopped."""
        try:
            channel = await self._open()
        except (FileNotFoundError, ConnectionRefusedError):
            return None
        hello = await self._hello(channel)
        self._pid = hello.pid
        if hello.fingerprint != self._fingerprint:
            log.info("worker %s left by a previous server runs other code or settings: replacing it", self._worker_id)
            self._channel = channel
            await self._stop_process(graceful=True)
            return None
        log.info("worker %s (pid %d) adopted, with %d environments", self._worker_id, hello.pid, len(hello.kept))
        self._environments.update(hello.environments)
        self._kept = hello.kept
        self._snapshots.update(hello.snapshots)
        return channel

    async def _spawn(self) -> FrameChannel:
        self._socket_path.parent.mkdir(parents=True, exist_ok=True)
        self._socket_path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(self._socket_path))
            os.chmod(self._socket_path, 0o600)
            listener.listen(4)
            command = [part.replace("{fd}", str(listener.fileno())) for part in self._command]
            self._process = await asyncio.create_subprocess_exec(
                *command,
                pass_fds=(listener.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sys.stderr.fileno(),
                env=self._env,
                start_new_session=True,  # it may outlive this server (see above): signals to our group are not its
            )
        finally:
            listener.close()
        self._pid = self._process.pid
        channel = await self._open()
        await self._hello(channel)
        return channel

    async def _open(self) -> FrameChannel:
        _, channel = await asyncio.get_running_loop().create_unix_connection(FrameChannel, str(self._socket_path))
        return channel

    async def _hello(self, channel: FrameChannel) -> Hello:
        try:
            message = await channel.first_frame()
        except ChannelClosed:
            channel.close()
            raise
        self._used_mb = int(message.get("used_mb", 0))
        if message.get("event") != "ready":
            channel.close()
            raise ChannelClosed(f"the worker process said {message!r} first")
        return msgspec.convert(message["hello"], Hello)

    def _received(self, message: dict[str, Any]) -> None:
        """A reply or an event from the worker."""
        self._used_mb = int(message.get("used_mb", self._used_mb))
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
        self._used_mb = 0
        self._kept = []

    def _ended(self, env_id: str) -> None:
        self._environments.discard(env_id)
        if self.events is not None:
            self.events.environment_ended(env_id)

    async def _stop_process(self, *, graceful: bool) -> None:
        """Stop the worker process: when this server stops, by asking (it ends its environments first); when
        it failed or has not finished starting, by SIGKILL (its environments die with it)."""
        channel, self._channel = self._channel, None
        if channel is None:
            graceful = False  # still starting (no hello yet): there is nobody to ask and nothing to end
        else:
            if graceful:
                channel.send({"id": next(self._ids), "op": "shutdown", "args": {}})
            channel.close()
        if not graceful:
            self._kill()
        try:
            async with asyncio.timeout(_STOP_DEADLINE_S):
                await self._exited()
        except TimeoutError:
            self._kill()
            await self._exited()
        self._process = self._pid = None

    def _kill(self) -> None:
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)

    async def _exited(self) -> None:
        if self._process is not None:
            await self._process.wait()
        elif self._pid is not None:  # adopted: not our child, so watched, not waited for
            while Path(f"/proc/{self._pid}").exists() and not _is_zombie(self._pid):
                await asyncio.sleep(0.05)

    async def _call(self, op: str, **args: Any) -> Any:
        if self._channel is None or self._failed:
            raise PlatformFailure(f"worker {self._worker_id} is not available")
        call_id = next(self._ids)
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = waiter
        try:
            self._channel.send({"id": call_id, "op": op, "args": args})
            return await waiter
        finally:
            self._pending.pop(call_id, None)

    # -- what assignment asks -----------------------------------------------------------------------------

    async def start_environment(self, config: FunctionConfig, *, provisioned: bool = False) -> str:
        self._starting += 1
        self._starting_mb += config.memory_size
        try:
            env_id = str(await self._call("start", config=config, provisioned=provisioned))
        finally:
            self._starting -= 1
            self._starting_mb -= config.memory_size
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
        assert self._channel is not None
        self._channel.send({"id": next(self._ids), "op": op, "args": args})


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
