"""The namespace backend, the default on Linux: each environment in its own user, PID, mount, network,
IPC and UTS namespaces, as an unprivileged uid with no capabilities, on a read-only root, with its code at
/var/task, a private /tmp of its ephemeral-storage size, a seccomp filter, and cgroup limits.

Environments are forked from a zygote per interpreter (`zygotes.py`), which has the runtime client and the
preloaded packages imported already; the sandbox side of the confinement is in `zygote/`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import os
import shutil
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firebox.errors import SandboxStartFailed
from firebox.sandbox import messages, outbound
from firebox.sandbox.base import (
    INIT_CPUS,
    Executable,
    ExitCause,
    Network,
    PythonRuntime,
    Sandbox,
    SandboxExit,
    SandboxHandles,
    SandboxSpec,
    program_root,
)
from firebox.sandbox.cgroups import CgroupTree, SandboxCgroup, lambda_cpus
from firebox.sandbox.copies import CopyPool
from firebox.sandbox.mount_plan import OPT_ROOT, TASK_ROOT, common_plan, function_plan
from firebox.sandbox.spares import SPARE_TMP_MB, Spare, SparePool
from firebox.sandbox.tmp_disks import TmpDisks
from firebox.sandbox.zygotes import Zygote, ZygoteInfo

log = logging.getLogger(__name__)

_START_DEADLINE_S = 10.0
_DESTROY_DEADLINE_S = 5.0


@dataclass(frozen=True, slots=True)
class NamespaceSettings:
    preload: tuple[str, ...] = ()  # imported by each zygote ahead of every cold start, where installed
    api_port: int = 9001  # where the Runtime API listens inside each sandbox
    inside_id: int = 993  # the uid and gid a function sees (as on AWS)
    first_uid: int = 500_000  # host uids handed out to sandboxes, one each, from here
    uid_count: int = 100_000
    hostname: str = "firebox"
    spares_per_zygote: int = 2  # processes forked and placed in control groups ahead of cold starts
    ready_copies: int = 1  # restored copies of each SnapStart template made ahead of the restores needing them


def unavailable_reason() -> str | None:
    """Why the namespace backend cannot run here, or None when it can."""
    if sys.platform != "linux":
        return "it needs Linux"
    if os.geteuid() != 0:
        return "it needs root to create namespaces and control groups"
    if CgroupTree.discover() is None:
        return "no writable control groups were found"
    return None


async def _release(cgroup: SandboxCgroup) -> None:
    """Kill what is left in `cgroup` and remove it, waiting (boundedly) for its processes to be gone."""
    try:
        async with asyncio.timeout(_DESTROY_DEADLINE_S):
            while True:
                cgroup.kill_all()
                if cgroup.remove():
                    return
                await asyncio.sleep(0.01)
    except TimeoutError:
        log.error("control groups of a sandbox could not be removed within %.0f s", _DESTROY_DEADLINE_S)


class NamespaceSandbox(SandboxHandles):
    def __init__(
        self,
        spec: SandboxSpec,
        cgroup: SandboxCgroup,
        report: socket.socket,
        output_fd: int,
        api: socket.socket,
        pid: int,
        scratch: Path | None,
        network: asyncio.subprocess.Process | None,
        copies: CopyPool | None = None,
    ) -> None:
        super().__init__(spec, output_fd, api)
        self.copies = copies  # a SnapStart template's restored copies
        self._cgroup = cgroup
        self._report = report
        # Signals go through a pidfd: once the zygote has reaped the sandbox its pid may belong to anyone.
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except OSError:
            self._pidfd = None
        self._scratch = scratch  # its directory on the host (restored copies have none)
        self._network = network  # slirp4netns, for outbound access
        self._killed = False
        self._exit: SandboxExit | None = None
        self._waiting = asyncio.Lock()

    async def wait(self) -> SandboxExit:
        async with self._waiting:  # one reader of the report channel; later callers get the same answer
            if self._exit is None:
                returncode = -signal.SIGKILL
                with contextlib.suppress(messages.ChannelClosed):
                    while True:
                        message, _ = await messages.receive(self._report)
                        if "exit" in message:
                            returncode = int(message["exit"])
                            break
                self._exit = SandboxExit(self._cause(returncode), returncode)
        return self._exit

    def _cause(self, returncode: int) -> ExitCause:
        if self._cgroup.oom_kills() > 0:
            return ExitCause.OUT_OF_MEMORY
        if self._killed:
            return ExitCause.KILLED
        return ExitCause.SIGNALLED if returncode < 0 else ExitCause.EXITED

    def kill(self) -> None:
        self._killed = True
        # PID 1 of a PID namespace takes every process of the namespace with it.
        if self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        self._cgroup.kill_all()

    def max_memory_used(self) -> int:
        return self._cgroup.peak_memory()

    def ask_for_copy(self, fds: list[int]) -> None:
        """Have this SnapStart template fork a restored copy (see `zygote/_fbz_snapshot.py`), given its output
        pipe, its channel and (where /tmp is disk) its /tmp mount."""
        messages.send(self._report, {"op": "restore"}, fds)

    def initialised(self) -> None:
        self._cgroup.limit_cpus(lambda_cpus(self._spec.memory_mb, os.cpu_count() or 1))
        if self.copies is not None:  # a template at its snapshot point: a first copy is made ahead
            self.copies.refill()

    def freeze(self) -> bool:
        return self._cgroup.freeze(wait=False)

    def thaw(self) -> bool:
        return self._cgroup.thaw()

    async def destroy(self) -> None:
        if self.copies is not None:
            await self.copies.close()
        self.kill()
        try:
            async with asyncio.timeout(_DESTROY_DEADLINE_S):
                await self.wait()
        except TimeoutError:
            log.error("sandbox %s did not end within %.0f s of SIGKILL", self.sandbox_id, _DESTROY_DEADLINE_S)
        await _release(self._cgroup)
        if self._network is not None:
            await outbound.stop(self._network)
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        for closing in (self._report, self._api):
            closing.close()
        with contextlib.suppress(OSError):
            os.close(self._output_fd)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)


class NamespaceBackend:
    name = "namespaces"
    isolated = True

    def __init__(
        self,
        scratch: Path,
        cgroups: CgroupTree,
        seccomp: bytes | None,
        custom_runtime_python: PythonRuntime,
        settings: NamespaceSettings | None = None,
        *,
        template_seccomp: bytes | None = None,
        tmp_disks: TmpDisks | None = None,
    ) -> None:
        # Custom runtimes are exec'd from a zygote too (it does the confining): this interpreter's.
        self._custom_runtime_python = custom_runtime_python
        self._scratch = scratch
        self._cgroups = cgroups
        self._seccomp = base64.b64encode(seccomp).decode() if seccomp else None
        # SnapStart templates run INIT under this narrower filter; their copies load the full one on top.
        self._template_seccomp = base64.b64encode(template_seccomp).decode() if template_seccomp else None
        self._settings = settings or NamespaceSettings()
        self._zygotes: dict[str, Zygote] = {}
        self._preparations: dict[str, dict[str, Any]] = {}  # interpreter -> its sandboxes' common preparation
        self._tmp_disks = tmp_disks  # each sandbox's /tmp on a disk of its own; without, a tmpfs
        self._spares = SparePool(cgroups, scratch, self._settings.spares_per_zygote, tmp_disks)
        self._starting: dict[str, asyncio.Lock] = {}
        self._uids = itertools.cycle(
            range(self._settings.first_uid, self._settings.first_uid + self._settings.uid_count)
        )
        scratch.mkdir(parents=True, exist_ok=True)

    async def _zygote(self, interpreter: str, runtime_dir: Path) -> tuple[Zygote, dict[str, Any]]:
        """The zygote for `interpreter` (started if need be) and what each of its sandboxes is prepared with."""
        async with self._starting.setdefault(interpreter, asyncio.Lock()):
            zygote = self._zygotes.get(interpreter)
            if zygote is None or not zygote.alive or zygote.info is None:
                if zygote is not None:
                    await zygote.close()
                zygote = Zygote(interpreter, runtime_dir, self._settings.preload)
                info = await zygote.start()
                if info.failed:
                    log.info("zygote %s could not preload %s", interpreter, ", ".join(info.failed))
                self._zygotes[interpreter] = zygote
                self._preparations[interpreter] = self._common_preparation(info)
            return zygote, self._preparations[interpreter]

    async def start(self, spec: SandboxSpec) -> NamespaceSandbox:
        launch = spec.launch
        if spec.template and (isinstance(launch, Executable) or (self._seccomp and not self._template_seccomp)):
            raise SandboxStartFailed("SnapStart templates need a Python runtime and the template seccomp filter")
        program: str | None = None
        if isinstance(launch, Executable):
            found = program_root(spec, launch.name)
            if found is None:
                raise SandboxStartFailed(
                    f"Couldn't find valid bootstrap(s): [{TASK_ROOT}/{launch.name} {OPT_ROOT}/{launch.name}]"
                )
            program = f"{TASK_ROOT if found == spec.task_root else OPT_ROOT}/{launch.name}"
            python = self._custom_runtime_python
        else:
            python = launch
        runtime_dir = python.bootstrap.parent
        zygote, common = await self._zygote(python.interpreter, runtime_dir)
        memory_bytes = spec.memory_mb * 1024 * 1024
        spare = self._spares.take(zygote)
        if spare is not None:
            cgroup, scratch, preparation = spare.cgroup, spare.scratch, spare.preparation
            cgroup.set_limits(memory_bytes, spec.max_processes)
        else:
            scratch = self._scratch / spec.sandbox_id
            (scratch / "root").mkdir(parents=True)  # the mount point of the sandbox's root; files sit beside it
            # Making control groups is blocking file work (a few hundred microseconds a directory): not on the loop.
            cgroup = await asyncio.to_thread(
                self._cgroups.create, spec.sandbox_id, memory_bytes, spec.max_processes, INIT_CPUS
            )
            preparation = {
                **common,
                "root": str(scratch / "root"),
                "cgroup_procs": [str(p) for p in cgroup.procs_files()],
            }
        resolver = None
        if spec.network is Network.OUTBOUND:
            resolver = scratch / "resolv.conf"
            resolver.write_text(outbound.RESOLV_CONF)
        output_read, output_write = os.pipe()
        os.set_blocking(output_read, False)
        report, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        report.setblocking(False)
        uid = next(self._uids)
        request: dict[str, Any] = {
            "id": spec.sandbox_id,
            "spare": spare.spare_id if spare is not None else None,
            "preparation": preparation,
            "mounts": function_plan(
                spec.task_root, spec.opt_root, spec.ephemeral_storage_mb, resolver, self._tmp_disks is not None
            ),
            "uid": uid,
            "gid": uid,
            "inside_id": self._settings.inside_id,
            "seccomp": self._seccomp,
            "wait_for_network": spec.network is Network.OUTBOUND,
            "cwd": TASK_ROOT,
            "env": {
                **spec.env,
                "LAMBDA_TASK_ROOT": TASK_ROOT,
                "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self._settings.api_port}",
            },
        }
        if program is not None:
            request["argv"] = [program]
        if spec.template:
            request["seccomp"] = self._template_seccomp
            request["template"] = {
                "ephemeral_storage_mb": spec.ephemeral_storage_mb,
                "api_port": self._settings.api_port,
                "seccomp": self._seccomp,
            }
        network = None
        tmp_mount = None
        try:
            try:
                tmp_mount = await self._tmp_mount(spec, spare, scratch)
                fds = [output_write, theirs.fileno(), *([tmp_mount] if tmp_mount is not None else [])]
                await zygote.spawn(request, fds)
            finally:
                os.close(output_write)
                theirs.close()
                if tmp_mount is not None:
                    os.close(tmp_mount)  # the zygote has its own copy to hand over
                self._spares.refill(zygote, common)
            pid, api = await self._await_start(report)
            if spec.network is Network.OUTBOUND:
                network = await outbound.attach(pid)
                messages.send(report, {"network": "ready"})
        except BaseException:
            # Whatever was started goes (a spare taken for this sandbox included), and all it held.
            if network is not None:
                await outbound.stop(network)
            report.close()
            os.close(output_read)
            await _release(cgroup)
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        sandbox = NamespaceSandbox(spec, cgroup, report, output_read, api, pid, scratch, network)
        if spec.template:
            sandbox.copies = CopyPool(
                sandbox.ask_for_copy,
                self._cgroups,
                memory_bytes,
                spec.max_processes,
                release=_release,
                ahead=self._settings.ready_copies,
                scratch=self._scratch,
                tmp_disks=self._tmp_disks,
                tmp_size_mb=spec.ephemeral_storage_mb,
                network=spec.network,
            )
        return sandbox

    async def _tmp_mount(self, spec: SandboxSpec, spare: Spare | None, scratch: Path) -> int | None:
        """The sandbox's /tmp disk, mounted (None where /tmp is a tmpfs): the spare's, when it has the size."""
        if self._tmp_disks is None:
            return None
        if spare is not None and spare.tmp_mount is not None and spec.ephemeral_storage_mb == SPARE_TMP_MB:
            return spare.tmp_mount
        if spare is not None:
            spare.release_tmp()
        return await self._tmp_disks.mounted(scratch, spec.ephemeral_storage_mb)

    async def restore(self, template: Sandbox, spec: SandboxSpec) -> NamespaceSandbox:
        copies = template.copies if isinstance(template, NamespaceSandbox) else None
        if copies is None:
            raise SandboxStartFailed("a restore needs a SnapStart template started by the namespace backend")
        copy = await copies.take()
        try:
            copy.go(spec.env)
        except OSError as exc:
            await copy.discard(_release)
            raise SandboxStartFailed(f"the SnapStart copy ended before it could go on: {exc}") from exc
        return NamespaceSandbox(
            spec, copy.cgroup, copy.report, copy.output_fd, copy.api, copy.pid, copy.scratch, copy.network
        )

    @staticmethod
    async def _await_start(report: socket.socket) -> tuple[int, socket.socket]:
        """The sandbox's pid (from its zygote) and its Runtime API socket (from the sandbox itself)."""
        pid: int | None = None
        api: socket.socket | None = None
        try:
            async with asyncio.timeout(_START_DEADLINE_S):
                while pid is None or api is None:
                    message, fds = await messages.receive(report)
                    if "error" in message:
                        raise SandboxStartFailed(f"the sandbox could not be set up: {message['error']}")
                    if "pid" in message:
                        pid = int(message["pid"])
                    if message.get("api") and fds:
                        api = socket.socket(fileno=fds[0])
                        api.setblocking(False)
        except (TimeoutError, messages.ChannelClosed) as exc:
            if api is not None:
                api.close()
            raise SandboxStartFailed(f"the sandbox did not start: {exc}") from exc
        return pid, api

    def _common_preparation(self, info: ZygoteInfo) -> dict[str, Any]:
        """What every sandbox of a zygote gets before it knows its function."""
        # Firebox's own code is not among them: the zygote imported all of it before forking.
        host_paths = list(info.prefixes)
        return {
            "hostname": self._settings.hostname,
            "api_port": self._settings.api_port,
            "mounts": common_plan(host_paths),
        }

    async def close(self) -> None:
        await self._spares.close()
        await asyncio.gather(*(zygote.close() for zygote in self._zygotes.values()))
        self._zygotes.clear()
        self._cgroups.remove()
        shutil.rmtree(self._scratch, ignore_errors=True)
