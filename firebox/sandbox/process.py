"""The unisolated process backend: each environment is a plain child process of the worker.

It shares the host's filesystem, network and process table with everything else: use it only for
development or where the namespace backend cannot run. Where cgroups are writable (Linux, as root) the
memory, process and CPU limits still hold; elsewhere they do not, and the backend says so when it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
from collections.abc import Mapping
from pathlib import Path

from firebox.errors import SandboxStartFailed
from firebox.sandbox.base import (
    INIT_CPUS,
    ExitCause,
    PythonRuntime,
    Sandbox,
    SandboxExit,
    SandboxHandles,
    SandboxSpec,
    program_root,
)
from firebox.sandbox.cgroups import CgroupTree, SandboxCgroup, lambda_cpus
from firebox.sandbox.mount_plan import OPT_ROOT
from firebox.sandbox.parent_death import die_with_parent

log = logging.getLogger(__name__)

_DESTROY_DEADLINE_S = 5.0
# Restored copies need namespaces of their own (their Runtime API, /tmp and processes): the fork that makes
# them lives in the namespace backend's sandboxes.
_NO_SNAPSHOTS = "SnapStart needs the namespace sandbox backend (firebox serve --sandbox namespaces)"


class ProcessSandbox(SandboxHandles):
    def __init__(
        self,
        spec: SandboxSpec,
        process: asyncio.subprocess.Process,
        output_fd: int,
        api: socket.socket,
        root: Path,
        cgroup: SandboxCgroup | None,
    ) -> None:
        super().__init__(spec, output_fd, api)
        self._process = process
        self._root = root
        self._cgroup = cgroup
        self._killed = False
        self._exit: SandboxExit | None = None

    async def wait(self) -> SandboxExit:
        returncode = await self._process.wait()
        if self._exit is None:
            if self._cgroup is not None and self._cgroup.oom_kills() > 0:
                cause = ExitCause.OUT_OF_MEMORY
            elif self._killed:
                cause = ExitCause.KILLED
            elif returncode < 0:
                cause = ExitCause.SIGNALLED
            else:
                cause = ExitCause.EXITED
            self._exit = SandboxExit(cause, returncode)
        return self._exit

    def kill(self) -> None:
        self._killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)
        if self._cgroup is not None:
            self._cgroup.kill_all()

    def initialised(self) -> None:
        if self._cgroup is not None:
            self._cgroup.limit_cpus(lambda_cpus(self._spec.memory_mb, os.cpu_count() or 1))

    def freeze(self) -> bool:
        """Have every process of the sandbox stopped; False where there is no cgroup (or freezer) to do it with."""
        return self._cgroup is not None and self._cgroup.freeze(wait=False)

    def thaw(self) -> bool:
        """Let a frozen sandbox run again; False where there is no cgroup (or freezer)."""
        return self._cgroup is not None and self._cgroup.thaw()

    def max_memory_used(self) -> int:
        if self._cgroup is not None:
            return self._cgroup.peak_memory()
        try:
            status = Path(f"/proc/{self._process.pid}/status").read_text()
        except OSError:
            return 0
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    async def destroy(self) -> None:
        self.kill()
        try:
            async with asyncio.timeout(_DESTROY_DEADLINE_S):
                await self.wait()
                while self._cgroup is not None and not self._cgroup.remove():
                    # Processes of the group other than the main one may still be exiting.
                    self._cgroup.kill_all()
                    await asyncio.sleep(0.01)
        except TimeoutError:
            log.error("sandbox %s did not end within %.0f s of SIGKILL", self.sandbox_id, _DESTROY_DEADLINE_S)
        with contextlib.suppress(OSError):
            os.close(self._output_fd)
        self._api.close()
        shutil.rmtree(self._root, ignore_errors=True)


def _command(spec: SandboxSpec) -> tuple[str, ...]:
    if isinstance(spec.launch, PythonRuntime):
        # -S: no site processing at start (the bootstrap puts the installed packages on sys.path itself).
        return (spec.launch.interpreter, "-S", str(spec.launch.bootstrap))
    root = program_root(spec, spec.launch.name) or spec.task_root  # missing: exec fails, and says so
    return (str(root / spec.launch.name),)


# Firebox's Python runtime reads where the layers are from this variable, /opt when it is not set.
OPT_ROOT_VARIABLE = "FIREBOX_OPT_ROOT"


def _layer_paths(env: Mapping[str, str], opt_root: Path | None) -> dict[str, str]:
    """Without mounts the layers stay where they are on the host: the search paths that name /opt (PATH,
    LD_LIBRARY_PATH, the Python runtime's) name that directory instead, as TMPDIR does for /tmp."""
    if opt_root is None:
        return {}
    moved = {OPT_ROOT_VARIABLE: str(opt_root)}
    for name in ("PATH", "LD_LIBRARY_PATH"):
        if name in env:
            moved[name] = ":".join(_moved_entry(entry, opt_root) for entry in env[name].split(":"))
    return moved


def _moved_entry(entry: str, opt_root: Path) -> str:
    if entry == OPT_ROOT or entry.startswith(OPT_ROOT + "/"):
        return str(opt_root) + entry[len(OPT_ROOT) :]
    return entry


class ProcessBackend:
    name = "process"
    isolated = False

    def __init__(self, scratch: Path) -> None:
        self._scratch = scratch
        self._cgroups = CgroupTree.discover()
        log.warning("sandbox backend 'process' gives NO isolation: functions run as this user and see this host")
        if self._cgroups is None:
            log.warning("no writable cgroup memory/pids here: memory, process and CPU limits are NOT enforced")

    async def start(self, spec: SandboxSpec) -> ProcessSandbox:
        if spec.template:
            raise SandboxStartFailed(_NO_SNAPSHOTS)
        root = self._scratch / spec.sandbox_id
        tmp = root / "tmp"
        tmp.mkdir(parents=True)
        cgroup = None
        if self._cgroups is not None:
            cgroup = self._cgroups.create(spec.sandbox_id, spec.memory_mb * 1024 * 1024, spec.max_processes, INIT_CPUS)
        procs_files = cgroup.procs_files() if cgroup is not None else []

        def enter_cgroup() -> None:
            # Runs in the child between fork and exec, so the function's first instruction is already limited.
            die_with_parent()  # a sandbox must not outlive the worker that owns it, even when it is SIGKILLed
            pid = str(os.getpid())
            for procs in procs_files:
                with open(procs, "w") as f:
                    f.write(pid)

        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        api = socket.create_server(("127.0.0.1", 0))
        api.setblocking(False)
        host, port = api.getsockname()[:2]
        env = {
            **spec.env,
            **_layer_paths(spec.env, spec.opt_root),
            "TMPDIR": str(tmp),
            "LAMBDA_TASK_ROOT": str(spec.task_root),
            "AWS_LAMBDA_RUNTIME_API": f"{host}:{port}",
        }
        argv = _command(spec)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                cwd=spec.task_root,
                env=env,
                start_new_session=True,
                preexec_fn=enter_cgroup,
            )
        except OSError as exc:
            os.close(read_fd)
            api.close()
            if cgroup is not None:
                cgroup.remove()
            shutil.rmtree(root, ignore_errors=True)
            raise SandboxStartFailed(f"fork/exec {argv[0]}: {exc.strerror}") from exc
        finally:
            os.close(write_fd)
        return ProcessSandbox(spec, process, read_fd, api, root, cgroup)

    async def restore(self, template: Sandbox, spec: SandboxSpec) -> Sandbox:
        raise SandboxStartFailed(_NO_SNAPSHOTS)

    async def close(self) -> None:
        if self._cgroups is not None:
            self._cgroups.remove()
        shutil.rmtree(self._scratch, ignore_errors=True)
