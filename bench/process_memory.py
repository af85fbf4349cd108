"""Host memory of processes, from /proc (Linux): unique and proportional set sizes, and process trees.

USS (unique set size) is what a process alone holds: its private pages, clean or dirty, which the host gets
back when it ends. PSS (proportional set size) adds each shared page divided by the number of processes
mapping it, so the PSS of every process on the host sums to the memory in use. Both come from
/proc/<pid>/smaps_rollup; neither counts kernel memory (page tables, namespaces, control groups, tmpfs).
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

MIB = 1024 * 1024
_USS_FIELDS = ("Private_Clean", "Private_Dirty", "Private_Hugetlb")


@dataclass(frozen=True, slots=True)
class Memory:
    uss: int  # bytes
    pss: int
    rss: int

    def __add__(self, other: Memory) -> Memory:
        return Memory(self.uss + other.uss, self.pss + other.pss, self.rss + other.rss)


NO_MEMORY = Memory(0, 0, 0)


def memory_of(pid: int) -> Memory:
    """The memory of one process; raises ProcessLookupError if it has ended."""
    fields: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                name, _, rest = line.partition(":")
                if rest.endswith("kB\n"):
                    fields[name] = int(rest.split()[0]) * 1024
    except FileNotFoundError as exc:
        raise ProcessLookupError(f"process {pid} has ended") from exc
    return Memory(sum(fields.get(f, 0) for f in _USS_FIELDS), fields.get("Pss", 0), fields.get("Rss", 0))


def total_memory(pids: Iterable[int]) -> Memory:
    """The sum over `pids`; a process that ends meanwhile counts for nothing."""
    total = NO_MEMORY
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            total += memory_of(pid)
    return total


def children_by_parent() -> dict[int, list[int]]:
    """Every process on the host, under its parent's pid."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # The command name, in parentheses, may hold spaces and parentheses: parse after the last ")".
                fields = stat.read().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        children[int(fields[1])].append(int(entry))
    return children


def subtree(pid: int, children: dict[int, list[int]]) -> list[int]:
    """`pid` and all its descendants, parents before their children."""
    found = [pid]
    for member in found:  # grows while it is walked: a breadth-first walk
        found.extend(children.get(member, ()))
    return found


def cmdline(pid: int) -> str:
    """The process's command line, its arguments joined by spaces; empty if it has ended."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as raw:
            return raw.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def available_memory() -> int:
    """The host's MemAvailable, in bytes."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise OSError("/proc/meminfo has no MemAvailable line")
