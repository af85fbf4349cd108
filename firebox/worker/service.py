"""A worker process's side of its channel: it serves a `Worker`'s calls and tells the server what changed.

Events: "ready" (with a `Hello`) first on each connection, "ended" when one of its environments is gone,
"frozen" when one is frozen, "snapshot" when a snapshot's state changes. Requests are served concurrently
(an invocation takes as long as it takes); "ping" answers at once, which is how the server knows the worker is alive.
"shutdown" ends the service: the worker process then ends its environments and exits. A channel that just
closes (the server died) ends the service too, and cancels what it was running for that server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from firebox.errors import FireboxError
from firebox.store import FunctionConfig
from firebox.worker.channel import FrameChannel, Hello, error_message
from firebox.worker.invocation import Invocation
from firebox.worker.snapshots import SnapshotKey, SnapshotStatus
from firebox.worker.worker import Worker

log = logging.getLogger(__name__)


class WorkerService:
    def __init__(self, worker: Worker, channel: FrameChannel, fingerprint: str) -> None:
        self._worker = worker
        self._fingerprint = fingerprint
        self._channel = channel
        self._answering: set[asyncio.Task[None]] = set()
        self._shutdown: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ops: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
            "ping": self._ping,
            "start": self._start,
            "invoke": self._invoke,
            "stop": self._stop,
            "prewarm": self._prewarm,
            "make_snapshot": self._make_snapshot,
            "drop_snapshots": self._drop_snapshots,
            "flush_logs": self._flush_logs,
        }

    @classmethod
    async def accept(cls, worker: Worker, connection: socket.socket, fingerprint: str) -> WorkerService:
        """The service of `worker` to the server at the other end of `connection` (an accepted socket)."""
        _, channel = await asyncio.get_running_loop().connect_accepted_socket(FrameChannel, sock=connection)
        return cls(worker, channel, fingerprint)

    def close(self) -> None:
        self._channel.close()

    def environment_ended(self, env_id: str) -> None:
        self._send({"event": "ended", "env_id": env_id})

    def environment_frozen(self, env_id: str) -> None:
        self._send({"event": "frozen", "env_id": env_id})

    def snapshot_changed(self, key: SnapshotKey, status: SnapshotStatus | None) -> None:
        self._send({"event": "snapshot", "key": key, "status": status})

    def _send(self, message: dict[str, Any]) -> None:
        # Every frame says how much memory the worker's environments hold now: placement counts on it.
        self._channel.send({**message, "used_mb": self._worker.used_mb})

    async def serve(self) -> bool:
        """Answer requests until the server closes the channel (False) or asks for a shutdown (True)."""
        worker = self._worker
        hello = Hello(
            self._fingerprint,
            os.getpid(),
            worker.environment_ids(),
            worker.kept_environments(),
            worker.snapshot_statuses(),
        )
        self._send({"event": "ready", "hello": hello})
        self._channel.deliver_to(self._received)
        closed = asyncio.ensure_future(self._channel.wait_closed())
        try:
            await asyncio.wait([closed, self._shutdown], return_when=asyncio.FIRST_COMPLETED)
            return self._shutdown.done()
        finally:
            closed.cancel()
            # Nobody is left to answer: what is still running stops now.
            for task in list(self._answering):
                task.cancel()
            await asyncio.gather(closed, *self._answering, return_exceptions=True)

    def _received(self, message: dict[str, Any]) -> None:
        if self._shutdown.done():
            return
        if message.get("op") == "shutdown":
            self._shutdown.set_result(None)
            return
        task = asyncio.create_task(self._answer(message), name=f"worker.request.{message.get('op')}")
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, message: dict[str, Any]) -> None:
        op = self._ops.get(str(message.get("op")))
        try:
            if op is None:
                raise ValueError(f"unknown operation {message.get('op')!r}")
            reply: dict[str, Any] = {"id": message.get("id"), "ok": await op(message.get("args") or {})}
        except Exception as exc:  # every failure goes back to the caller, as the error it is
            if not isinstance(exc, FireboxError):
                log.exception("worker request %s failed", message.get("op"))
            reply = {"id": message.get("id"), "error": error_message(exc)}
        self._send(reply)

    async def _ping(self, args: dict[str, Any]) -> str:
        return "pong"

    async def _start(self, args: dict[str, Any]) -> str:
        config = msgspec.convert(args["config"], FunctionConfig)
        return await self._worker.start_environment(config, provisioned=bool(args.get("provisioned")))

    async def _invoke(self, args: dict[str, Any]) -> Any:
        return await self._worker.invoke(str(args["env_id"]), msgspec.convert(args["invocation"], Invocation))

    async def _stop(self, args: dict[str, Any]) -> None:
        await self._worker.stop_environment(str(args["env_id"]))

    async def _prewarm(self, args: dict[str, Any]) -> str | None:
        return await self._worker.prewarm(str(args["env_id"]))

    async def _make_snapshot(self, args: dict[str, Any]) -> None:
        self._worker.make_snapshot(msgspec.convert(args["config"], FunctionConfig))

    async def _drop_snapshots(self, args: dict[str, Any]) -> None:
        dropped = {(str(version), str(revision)) for version, revision in args["versions"]}
        self._worker.drop_snapshots(str(args["function"]), keep=lambda v, r: (v, r) not in dropped)

    async def _flush_logs(self, args: dict[str, Any]) -> None:
        await self._worker.flush_logs()
