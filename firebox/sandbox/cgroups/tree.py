"""Firebox's own subtree of control groups, on cgroup v2 where the host runs it, v1 otherwise."""

from __future__ import annotations

import os
from pathlib import Path

from firebox.sandbox.cgroups.base import Hierarchy, SandboxCgroup, lambda_cpus
from firebox.sandbox.cgroups.layout import Layout
from firebox.sandbox.cgroups.v1 import V1Tree
from firebox.sandbox.cgroups.v2 import V2Tree

_MIB = 1024 * 1024


class CgroupTree:
    """Where Firebox makes one group per sandbox: `firebox-<pid>` below the group it was started in.

    Firebox never makes groups at the root of a hierarchy, and removes the trees of Firebox processes
    that died without removing their own.
    """

    def __init__(self, hierarchy: Hierarchy) -> None:
        self._hierarchy = hierarchy

    @classmethod
    def discover(cls, proc_self: Path = Path("/proc/self")) -> CgroupTree | None:
        """Set up Firebox's subtree; None where no cgroup version gives us writable memory and pids.

        v2 where this process is in the unified hierarchy only (a pure v2 host) and its group there offers
        the memory controller; v1 otherwise (pure v1, and hybrid hosts whose controllers are all on v1).
        `proc_self` stands in for /proc/self in tests.
        """
        try:
            layout = Layout.read(proc_self)
        except (OSError, ValueError):
            return None
        hierarchy: Hierarchy | None = V2Tree.discover(layout) if layout.pure_v2 else None
        if hierarchy is None:
            hierarchy = V1Tree.discover(layout)
        return None if hierarchy is None else cls(hierarchy)

    @property
    def version(self) -> int:
        """1 or 2: which cgroup version the groups are on."""
        return self._hierarchy.version

    def create(self, name: str, memory_bytes: int, max_processes: int, cpus: float | None = None) -> SandboxCgroup:
        """A sandbox's groups with its limits set: memory (no swap), processes and threads, and CPU.

        `cpus` is how many cores' worth of CPU time it may use; by default Lambda's share for the memory
        size (`lambda_cpus`). Raises OSError when the groups cannot be made; nothing is left behind then.
        """
        if cpus is None:
            cpus = lambda_cpus(memory_bytes // _MIB, os.cpu_count() or 1)
        return self._hierarchy.create(name, memory_bytes, max_processes, cpus)

    def remove(self) -> None:
        """Remove Firebox's subtree, as far as the sandboxes' groups are gone already."""
        self._hierarchy.remove()
