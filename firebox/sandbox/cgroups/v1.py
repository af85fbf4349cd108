"""cgroup v1: one hierarchy per controller, so a sandbox is one directory in each of them.

Memory and pids are required: without them there are no limits worth the name. cpu and freezer are used
where mounted; without them CPU is not capped and `freeze()` answers False.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from pathlib import Path

from firebox.sandbox.cgroups.base import (
    CPU_PERIOD_US,
    FREEZE_DEADLINE_S,
    SandboxCgroup,
    cpu_quota_text,
    freeze_timed_out,
    read_keyed,
    wait_until,
)
from firebox.sandbox.cgroups.layout import Layout
from firebox.sandbox.cgroups.stale import remove_stale_trees

REQUIRED = ("memory", "pids")
OPTIONAL = ("cpu", "freezer")
_OPTIONAL_FILES = frozenset({"memory.memsw.limit_in_bytes"})  # exists only where swap is accounted


def limit_files(memory_bytes: int, max_processes: int, cpus: float) -> dict[str, dict[str, str]]:
    """controller -> {file: value}, in the order they must be written."""
    return {
        "memory": {
            "memory.limit_in_bytes": str(memory_bytes),
            # Memory plus swap, so a sandbox cannot spill past its limit into swap where the host has any.
            # Written after the memory limit: the kernel refuses memsw below it.
            "memory.memsw.limit_in_bytes": str(memory_bytes),
        },
        "pids": {"pids.max": str(max_processes)},
        "cpu": {"cpu.cfs_period_us": str(CPU_PERIOD_US), "cpu.cfs_quota_us": cpu_quota_text(cpus, "-1")},
    }


def _unique(paths: list[Path]) -> list[Path]:
    # Controllers mounted together (cpu,cpuacct on many hosts) share a directory.
    return list(dict.fromkeys(paths))


class V1Cgroup(SandboxCgroup):
    """One sandbox's groups: a directory per controller."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs
        self._peak_fd: int | None = None
        self._freezer_fd: int | None = None

    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in _unique(list(self.dirs.values()))]

    def oom_kills(self) -> int:
        try:
            return read_keyed(self.dirs["memory"] / "memory.oom_control").get("oom_kill", 0)
        except OSError:
            return 0

    def peak_memory(self) -> int:
        # Read after every invocation: keeping the file open saves an open() of a cgroupfs file each time.
        try:
            if self._peak_fd is None:
                self._peak_fd = os.open(self.dirs["memory"] / "memory.max_usage_in_bytes", os.O_RDONLY)
            return int(os.pread(self._peak_fd, 32, 0))
        except (OSError, ValueError):
            return 0

    def set_limits(self, memory_bytes: int, max_processes: int) -> None:
        limits = limit_files(memory_bytes, max_processes, 1.0)
        for controller in ("memory", "pids"):
            for file, value in limits[controller].items():
                path = self.dirs[controller] / file
                if file in _OPTIONAL_FILES and not path.exists():
                    continue
                _write_limit(path, value)

    def limit_cpus(self, cpus: float) -> None:
        cpu = self.dirs.get("cpu")
        if cpu is not None:
            _write_limit(cpu / "cpu.cfs_quota_us", cpu_quota_text(cpus, "-1"))

    def _freezer_state(self) -> int | None:
        # Written twice per invocation (thaw, then freeze once idle): kept open to save an open() each time.
        freezer = self.dirs.get("freezer")
        if freezer is None:
            return None
        if self._freezer_fd is None:
            self._freezer_fd = os.open(freezer / "freezer.state", os.O_RDWR)
        return self._freezer_fd

    def freeze(self, wait: bool = True) -> bool:
        state = self._freezer_state()
        if state is None:
            return False
        os.pwrite(state, b"FROZEN", 0)
        # The write returns while the state may still read FREEZING: tasks stop as they next leave the kernel.
        if wait and not wait_until(lambda: os.pread(state, 16, 0).strip() == b"FROZEN", FREEZE_DEADLINE_S):
            os.pwrite(state, b"THAWED", 0)
            raise freeze_timed_out(self.dirs["freezer"])
        return True

    def thaw(self) -> bool:
        state = self._freezer_state()
        if state is None:
            return False
        os.pwrite(state, b"THAWED", 0)
        return True

    def kill_all(self) -> None:
        self._kill_pids()
        # A v1-frozen process keeps a SIGKILL pending until it is thawed: thaw, so that it dies now.
        with contextlib.suppress(OSError):
            self.thaw()

    def remove(self) -> bool:
        for fd in (self._peak_fd, self._freezer_fd):
            if fd is not None:
                os.close(fd)
        self._peak_fd = self._freezer_fd = None
        removed = True
        for directory in _unique(list(self.dirs.values())):
            try:
                directory.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                removed = False
        return removed


def _write_limit(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as exc:
        # v1 refuses a CPU quota above an ancestor's (Firebox in a container with a CPU limit). The
        # ancestor's smaller quota caps the sandbox anyway, so there is nothing to add.
        if path.name != "cpu.cfs_quota_us" or exc.errno != errno.EINVAL:
            raise


def _releaser(controller: str) -> Callable[[Path], None]:
    """How stale groups of one controller's hierarchy end their processes."""

    def release(group: Path) -> None:
        V1Cgroup({controller: group}).kill_all()

    return release


class V1Tree:
    """`firebox-<pid>` under this process's own group in each controller's hierarchy."""

    version = 1

    def __init__(self, roots: dict[str, Path]) -> None:
        self.roots = roots

    @classmethod
    def discover(cls, layout: Layout) -> V1Tree | None:
        """None where a required controller is not mounted or not writable."""
        parents: dict[str, Path] = {}
        for controller in (*REQUIRED, *OPTIONAL):
            mount = layout.v1_mounts.get(controller)
            parent = None if mount is None else mount.group_dir(layout.own_v1.get(controller, "/"))
            if parent is not None:
                parents[controller] = parent
            elif controller in REQUIRED:
                return None
        remove_stale_trees({parent: _releaser(controller) for controller, parent in parents.items()})
        tree = cls({})
        for controller, parent in parents.items():
            root = parent / f"firebox-{os.getpid()}"
            try:
                root.mkdir(exist_ok=True)
            except OSError:
                if controller in REQUIRED:
                    tree.remove()
                    return None
                continue
            tree.roots[controller] = root
        return tree

    def create(self, name: str, memory_bytes: int, max_processes: int, cpus: float) -> V1Cgroup:
        dirs = {controller: root / name for controller, root in self.roots.items()}
        made: list[Path] = []
        try:
            for directory in _unique(list(dirs.values())):
                directory.mkdir()
                made.append(directory)
            for controller, files in limit_files(memory_bytes, max_processes, cpus).items():
                if controller not in dirs:
                    continue
                for file, value in files.items():
                    path = dirs[controller] / file
                    if file in _OPTIONAL_FILES and not path.exists():
                        continue
                    _write_limit(path, value)
        except OSError:
            for directory in reversed(made):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            raise
        return V1Cgroup(dirs)

    def remove(self) -> None:
        for root in _unique(list(self.roots.values())):
            with contextlib.suppress(OSError):
                root.rmdir()
