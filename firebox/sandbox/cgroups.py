"""Per-sandbox control groups (cgroup v1 memory and pids controllers) for limits and accounting.

Firebox never touches the root of a hierarchy: it makes `firebox-<pid>` under the cgroup it was started in,
and one child per sandbox below that. The memory limit makes the kernel OOM-kill inside the sandbox only;
the peak usage it records is the "Max Memory Used" of REPORT.

cgroup v2 (unified) hosts are not handled yet: `CgroupTree.discover` returns None there and the caller
decides what that means.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

_CONTROLLERS = ("memory", "pids")


def _v1_mounts() -> dict[str, Path]:
    """Mount point of each cgroup v1 controller, from /proc/self/mountinfo."""
    mounts: dict[str, Path] = {}
    with open("/proc/self/mountinfo") as info:
        for line in info:
            fields = line.split()
            separator = fields.index("-")
            fstype, options = fields[separator + 1], fields[separator + 3]
            if fstype != "cgroup":
                continue
            for controller in options.split(","):
                if controller in _CONTROLLERS:
                    mounts[controller] = Path(fields[4])
    return mounts


def _own_v1_paths() -> dict[str, str]:
    paths: dict[str, str] = {}
    with open("/proc/self/cgroup") as cgroups:
        for line in cgroups:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(","):
                paths[controller] = path
    return paths


class SandboxCgroup:
    """One sandbox's groups: a directory per controller."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs
        self._peak_fd: int | None = None

    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs.values()]

    def oom_kills(self) -> int:
        try:
            text = (self.dirs["memory"] / "memory.oom_control").read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def peak_memory(self) -> int:
        # Read after every invocation: keeping the file open saves an open() of a cgroupfs file each time.
        try:
            if self._peak_fd is None:
                self._peak_fd = os.open(self.dirs["memory"] / "memory.max_usage_in_bytes", os.O_RDONLY)
            return int(os.pread(self._peak_fd, 32, 0))
        except (OSError, ValueError):
            return 0

    def pids(self) -> list[int]:
        found: set[int] = set()
        for procs in self.procs_files():
            with contextlib.suppress(OSError):
                found.update(int(p) for p in procs.read_text().split())
        return sorted(found)

    def kill_all(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def remove(self) -> bool:
        """Remove the groups; False while a process is still in one (it is still dying)."""
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None
        removed = True
        for directory in self.dirs.values():
            try:
                directory.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                removed = False
        return removed


def _remove_stale_trees(parents: dict[str, Path]) -> None:
    """Clean up after Firebox processes that died without doing it themselves (SIGKILL, power loss)."""
    for parent in parents.values():
        for tree in parent.glob("firebox-*"):
            owner = tree.name.removeprefix("firebox-")
            if not owner.isdigit() or Path(f"/proc/{owner}").exists():
                continue
            for group in [p for p in tree.iterdir() if p.is_dir()]:
                stale = SandboxCgroup({"stale": group})
                stale.kill_all()
                stale.remove()
            with contextlib.suppress(OSError):
                tree.rmdir()


class CgroupTree:
    """Firebox's own subtree in each controller's hierarchy."""

    def __init__(self, roots: dict[str, Path]) -> None:
        self._roots = roots

    @classmethod
    def discover(cls) -> CgroupTree | None:
        """Make `firebox-<pid>` under our own groups; None where cgroup v1 memory and pids are not writable."""
        try:
            mounts, own = _v1_mounts(), _own_v1_paths()
        except (OSError, ValueError):
            return None
        if any(controller not in mounts for controller in _CONTROLLERS):
            return None
        parents = {c: mounts[c] / own.get(c, "/").lstrip("/") for c in _CONTROLLERS}
        _remove_stale_trees(parents)
        roots = {c: parent / f"firebox-{os.getpid()}" for c, parent in parents.items()}
        try:
            for root in roots.values():
                root.mkdir(exist_ok=True)
        except OSError:
            return None
        return cls(roots)

    def create(self, name: str, memory_bytes: int, max_processes: int) -> SandboxCgroup:
        dirs = {c: root / name for c, root in self._roots.items()}
        for directory in dirs.values():
            directory.mkdir()
        memory = dirs["memory"]
        (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
        swap_limit = memory / "memory.memsw.limit_in_bytes"
        if swap_limit.exists():
            # Without this a sandbox could spill past its limit into swap where the host has any.
            swap_limit.write_text(str(memory_bytes))
        (dirs["pids"] / "pids.max").write_text(str(max_processes))
        return SandboxCgroup(dirs)

    def remove(self) -> None:
        for root in self._roots.values():
            with contextlib.suppress(OSError):
                root.rmdir()
