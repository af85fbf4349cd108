"""Restored copies of a SnapStart template: made on demand, and some kept ready ahead of the next restores.

A copy is forked from the template (`zygote/_fbz_snapshot.py`), placed in control groups of its own, and
given its namespaces, /proc, /tmp and Runtime API socket; it then waits for the word to go on, which brings
what differs between copies (log stream, credentials). Only after that word does the runtime reseed its
random generators and run the after-restore hooks, so a copy kept ready shares nothing with another that a
fresh restore would not. Keeping copies ready takes the fork, the namespaces and the control groups (about
two thirds of a restore here) off the invocations that need them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from firebox.errors import SandboxStartFailed
from firebox.sandbox import messages, outbound
from firebox.sandbox.base import INIT_CPUS, Network
from firebox.sandbox.cgroups import CgroupTree, SandboxCgroup
from firebox.sandbox.tmp_disks import TmpDisks

log = logging.getLogger(__name__)

_READY_DEADLINE_S = 10.0


@dataclass(frozen=True, slots=True)
class Copy:
    """A copy that is ready: forked, placed and confined, waiting to go on."""

    pid: int  # on the host
    cgroup: SandboxCgroup
    scratch: Path  # its directory on the host (its /tmp image, where /tmp is disk)
    report: socket.socket  # the worker's end of its channel: exits are reported here
    output_fd: int  # read end of its stdout and stderr
    api: socket.socket  # its Runtime API socket, listening in its own network namespace
    network: asyncio.subprocess.Process | None  # slirp4netns, for a template with outbound access

    def go(self, env: Mapping[str, str]) -> None:
        messages.send(self.report, {"go": True, "env": dict(env)})

    async def discard(self, release: Callable[[SandboxCgroup], Awaitable[None]]) -> None:
        if self.network is not None:
            await outbound.stop(self.network)
        for closing in (self.report, self.api):
            closing.close()
        with contextlib.suppress(OSError):
            os.close(self.output_fd)
        await release(self.cgroup)
        shutil.rmtree(self.scratch, ignore_errors=True)


class CopyPool:
    """The copies of one template: `take()` one (ready or made now); `ahead` more are made in the background."""

    def __init__(
        self,
        ask_template: Callable[[list[int]], None],
        cgroups: CgroupTree,
        memory_bytes: int,
        max_processes: int,
        *,
        release: Callable[[SandboxCgroup], Awaitable[None]],
        ahead: int,
        scratch: Path,
        tmp_disks: TmpDisks | None,
        tmp_size_mb: int,
        network: Network,
    ) -> None:
        self._ask_template = ask_template  # sends the template a copy's output pipe, channel and /tmp mount
        self._cgroups = cgroups
        self._memory_bytes = memory_bytes
        self._max_processes = max_processes
        self._release = release  # kills what is left in a group and removes it
        self._ahead = ahead
        self._scratch = scratch  # each copy's directory goes here
        self._tmp_disks = tmp_disks
        self._tmp_size_mb = tmp_size_mb
        self._network = network  # each copy has a network namespace of its own, and gets the template's kind
        self._ready: deque[Copy] = deque()
        self._filling: asyncio.Task[None] | None = None

    async def take(self) -> Copy:
        """A copy to give to an invocation: a ready one, or one made now. Raises SandboxStartFailed."""
        try:
            while self._ready:
                copy = self._ready.popleft()
                if not _ended(copy):
                    return copy
                await copy.discard(self._release)
            return await self._make()
        finally:
            self.refill()

    def refill(self) -> None:
        """Make copies ahead in the background, up to `ahead`, unless that is under way."""
        if len(self._ready) < self._ahead and self._filling is None:
            self._filling = asyncio.create_task(self._fill(), name="sandbox.copies")
            self._filling.add_done_callback(self._filled)

    def _filled(self, task: asyncio.Task[None]) -> None:
        self._filling = None
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not make a SnapStart copy ahead: %s", task.exception())

    async def _fill(self) -> None:
        while len(self._ready) < self._ahead:
            self._ready.append(await self._make())

    async def _make(self) -> Copy:
        copy_id = f"copy-{uuid.uuid4().hex}"
        scratch = self._scratch / copy_id
        scratch.mkdir(parents=True)
        cgroup = self._cgroups.create(copy_id, self._memory_bytes, self._max_processes, INIT_CPUS)
        output_read, output_write = os.pipe()
        os.set_blocking(output_read, False)
        report, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        report.setblocking(False)
        report.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)  # the copy's pid, from the kernel
        tmp_mount = None
        try:
            try:
                if self._tmp_disks is not None:
                    tmp_mount = await self._tmp_disks.mounted(scratch, self._tmp_size_mb)
                self._ask_template([output_write, theirs.fileno(), *([tmp_mount] if tmp_mount is not None else [])])
            except OSError as exc:
                raise SandboxStartFailed(f"the SnapStart template is gone: {exc}") from exc
            finally:
                os.close(output_write)
                theirs.close()
                if tmp_mount is not None:
                    os.close(tmp_mount)
            pid, api, network = await _await_ready(report, cgroup, self._network)
        except BaseException:
            report.close()
            os.close(output_read)
            await self._release(cgroup)
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return Copy(pid, cgroup, scratch, report, output_read, api, network)

    async def close(self) -> None:
        """Stop making copies and discard the ready ones (copies die with their template anyway)."""
        if self._filling is not None:
            self._filling.cancel()
            with contextlib.suppress(asyncio.CancelledError, SandboxStartFailed):
                await self._filling
        while self._ready:
            await self._ready.popleft().discard(self._release)


def _ended(copy: Copy) -> bool:
    """Whether a ready copy has died meanwhile (its channel then holds its exit report, or is closed)."""
    try:
        copy.report.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return False
    except OSError:
        pass
    return True


async def _await_ready(
    report: socket.socket, cgroup: SandboxCgroup, network: Network
) -> tuple[int, socket.socket, asyncio.subprocess.Process | None]:
    """Place the copy in its control groups as soon as it says it exists (and attach its outbound network),
    then take its Runtime API socket."""
    pid: int | None = None
    attached: asyncio.subprocess.Process | None = None
    try:
        async with asyncio.timeout(_READY_DEADLINE_S):
            while True:
                message, fds, sender = await messages.receive_with_sender(report)
                if "error" in message:
                    raise SandboxStartFailed(f"the SnapStart copy could not be set up: {message['error']}")
                if message.get("restored") and pid is None and sender:
                    pid = sender
                    cgroup.add(pid)
                    if network is Network.OUTBOUND:
                        attached = await outbound.attach(pid)
                    messages.send(report, {"placed": True})
                elif message.get("api") and fds and pid is not None:
                    api = socket.socket(fileno=fds[0])
                    api.setblocking(False)
                    return pid, api, attached
                for fd in fds:
                    os.close(fd)
    except BaseException as exc:
        if attached is not None:
            await outbound.stop(attached)
        if isinstance(exc, (TimeoutError, messages.ChannelClosed, OSError)):
            raise SandboxStartFailed(f"the SnapStart copy did not start: {exc}") from exc
        raise
