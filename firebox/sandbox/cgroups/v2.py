"""cgroup v2 (unified): one hierarchy, so a sandbox is one directory holding every controller's files.

Under the group Firebox was started in (`<own>`):

    <own>/firebox-<pid>/supervisor      Firebox itself, moved here at discovery
    <own>/firebox-<pid>/<sandbox_id>    one group per sandbox

v2 lets a group hand controllers to its children only while no process sits in it (the "no internal
processes" rule), and `<own>` holds Firebox. So discovery first moves Firebox (this process only: it does
not own the others) into the `supervisor` leaf, then enables memory, pids and cpu in `<own>` (where they
are not enabled yet and the rule allows) and in `firebox-<pid>`. A process that was in `<own>` besides
Firebox makes the first of these fail: v2 is not usable then, and discovery says why.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path, PurePosixPath

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

log = logging.getLogger(__name__)

CONTROLLERS = ("memory", "pids", "cpu")
REQUIRED = ("memory", "pids")
SUPERVISOR = "supervisor"
_OPTIONAL_FILES = frozenset({"memory.swap.max"})  # exists only where swap is accounted


def limit_files(memory_bytes: int, max_processes: int, cpus: float, controllers: frozenset[str]) -> dict[str, str]:
    """file -> value for a new sandbox group, for the controllers it has."""
    files = {
        "memory.max": str(memory_bytes),
        "memory.swap.max": "0",  # v2 limits swap apart from memory: none at all, as on Lambda
        "pids.max": str(max_processes),
    }
    if "cpu" in controllers:
        files["cpu.max"] = f"{cpu_quota_text(cpus, 'max')} {CPU_PERIOD_US}"
    return files


def own_group(path: str) -> str:
    """The group Firebox was started in, from the one it is in now.

    After discovery Firebox sits in `firebox-<pid>/supervisor`; discovering again (a second backend in
    the same process) must find the same `firebox-<pid>`, not nest a new one inside the supervisor.
    """
    group = PurePosixPath(path)
    if group.name == SUPERVISOR and group.parent.name.removeprefix("firebox-").isdigit():
        return str(group.parent.parent)
    return path


class V2Cgroup(SandboxCgroup):
    """One sandbox's group."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._peak_fd: int | None = None

    def procs_files(self) -> list[Path]:
        return [self.directory / "cgroup.procs"]

    def oom_kills(self) -> int:
        try:
            return read_keyed(self.directory / "memory.events").get("oom_kill", 0)
        except OSError:
            return 0

    def peak_memory(self) -> int:
        """memory.peak (Linux 5.19 and later). Older kernels have no peak at all: this then reads
        memory.current, the use at the moment of the call, which under-reports a peak that has passed
        (Firebox does not poll to catch it)."""
        try:
            if self._peak_fd is None:
                peak = self.directory / "memory.peak"
                source = peak if peak.exists() else self.directory / "memory.current"
                self._peak_fd = os.open(source, os.O_RDONLY)
            return int(os.pread(self._peak_fd, 32, 0))
        except (OSError, ValueError):
            return 0

    def set_limits(self, memory_bytes: int, max_processes: int) -> None:
        (self.directory / "memory.max").write_text(str(memory_bytes))
        (self.directory / "pids.max").write_text(str(max_processes))

    def limit_cpus(self, cpus: float) -> None:
        cpu_max = self.directory / "cpu.max"
        if cpu_max.exists():
            cpu_max.write_text(f"{cpu_quota_text(cpus, 'max')} {CPU_PERIOD_US}")

    def freeze(self, wait: bool = True) -> bool:
        control = self.directory / "cgroup.freeze"
        if not control.exists():
            return False  # Linux before 5.2
        control.write_text("1")
        events = self.directory / "cgroup.events"
        if wait and not wait_until(lambda: read_keyed(events).get("frozen") == 1, FREEZE_DEADLINE_S):
            control.write_text("0")
            raise freeze_timed_out(self.directory)
        return True

    def thaw(self) -> bool:
        control = self.directory / "cgroup.freeze"
        if not control.exists():
            return False
        control.write_text("0")
        return True

    def kill_all(self) -> None:
        # cgroup.kill (Linux 5.14) cannot race with a fork the way signalling each pid can. SIGKILL ends
        # v2-frozen processes too, so there is nothing to thaw.
        kill = self.directory / "cgroup.kill"
        if kill.exists():
            kill.write_text("1")
        else:
            self._kill_pids()

    def remove(self) -> bool:
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None
        try:
            self.directory.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            return False
        return True


def _release(group: Path) -> None:
    V2Cgroup(group).kill_all()


def _enable(group: Path, controllers: tuple[str, ...]) -> None:
    """Hand `controllers` down to the children of `group`, where not handed down already."""
    control = group / "cgroup.subtree_control"
    enabled = set(control.read_text().split()) if control.exists() else set()
    missing = [c for c in controllers if c not in enabled]
    if missing:
        control.write_text(" ".join(f"+{c}" for c in missing))


class V2Tree:
    """`firebox-<pid>` under this process's own group of the unified hierarchy."""

    version = 2

    def __init__(self, base: Path, controllers: frozenset[str]) -> None:
        self.base = base
        self.controllers = controllers

    @classmethod
    def discover(cls, layout: Layout) -> V2Tree | None:
        """None where the unified hierarchy does not offer memory and pids to our group, or is not writable."""
        if layout.v2_mount is None or layout.own_v2 is None:
            return None
        own = layout.v2_mount.group_dir(own_group(layout.own_v2))
        if own is None:
            return None
        try:
            available = set((own / "cgroup.controllers").read_text().split())
        except OSError:
            return None
        if any(c not in available for c in REQUIRED):
            return None
        controllers = tuple(c for c in CONTROLLERS if c in available)
        remove_stale_trees({own: _release})
        base = own / f"firebox-{os.getpid()}"
        supervisor = base / SUPERVISOR
        try:
            supervisor.mkdir(parents=True, exist_ok=True)
            (supervisor / "cgroup.procs").write_text(str(os.getpid()))
            _enable(own, controllers)
            _enable(base, controllers)
        except OSError as exc:
            log.warning(
                "cgroup v2 group %s cannot hand memory/pids/cpu to sandboxes (%s); does another process"
                " share Firebox's group?",
                own,
                exc.strerror or exc,
            )
            with contextlib.suppress(OSError):
                (own / "cgroup.procs").write_text(str(os.getpid()))
            for directory in (supervisor, base):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            return None
        return cls(base, frozenset(controllers))

    def create(self, name: str, memory_bytes: int, max_processes: int, cpus: float) -> V2Cgroup:
        directory = self.base / name
        directory.mkdir()
        try:
            for file, value in limit_files(memory_bytes, max_processes, cpus, self.controllers).items():
                path = directory / file
                if file in _OPTIONAL_FILES and not path.exists():
                    continue
                path.write_text(value)
        except OSError:
            with contextlib.suppress(OSError):
                directory.rmdir()
            raise
        return V2Cgroup(directory)

    def remove(self) -> None:
        """Remove what can be removed now.

        Firebox itself stays in `supervisor` until it exits: v2 does not take it back into `<own>`, which
        now hands controllers down. The next Firebox to start removes the rest as a stale tree.
        """
        for directory in (self.base / SUPERVISOR, self.base):
            with contextlib.suppress(OSError):
                directory.rmdir()
