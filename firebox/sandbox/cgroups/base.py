"""What one sandbox's control groups offer, whichever cgroup version provides them, and the CPU arithmetic."""

from __future__ import annotations

import abc
import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from firebox.errors import PlatformFailure

CPU_PERIOD_US = 100_000  # the kernel's default CFS period; Lambda's CPU share is a quota within it
LAMBDA_MB_PER_VCPU = 1769  # AWS: "at 1,769 MB, a function has the equivalent of one vCPU"
_MIN_QUOTA_US = 1000  # the kernel refuses smaller quotas

FREEZE_DEADLINE_S = 1.0
_POLL_MAX_S = 0.001  # never sleep longer than this between two looks at a cgroup file


def lambda_cpus(memory_mb: int, cores: int) -> float:
    """Lambda's CPU for a memory size: linear in memory, one vCPU at 1,769 MB, at most the host's cores."""
    return min(float(cores), memory_mb / LAMBDA_MB_PER_VCPU)


def cpu_quota_us(cpus: float, period_us: int = CPU_PERIOD_US) -> int:
    """CPU time per period that gives `cpus` cores' worth of CPU."""
    return max(_MIN_QUOTA_US, round(period_us * cpus))


def cpu_quota_text(cpus: float, unlimited: str) -> str:
    """The quota to write for `cpus`: none at all (`unlimited`) once the share reaches every core of the host.
    Such a quota could never bind, yet it would cost the scheduler its bandwidth accounting at every wake-up
    (about 0.3 ms of a warm invocation here)."""
    if cpus >= (os.cpu_count() or 1):
        return unlimited
    return str(cpu_quota_us(cpus))


def read_keyed(path: Path) -> dict[str, int]:
    """A flat-keyed cgroup file ("key value" per line: memory.events, cgroup.events, memory.oom_control)."""
    values: dict[str, int] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            values[key] = int(value)
    return values


def wait_until(condition: Callable[[], bool], deadline_s: float) -> bool:
    """Poll `condition` until it holds (True) or `deadline_s` passes (False).

    A cgroup state change usually lands within microseconds, so the first looks come quickly and the pause
    between looks grows only up to 1 ms: a caller blocks at most about a millisecond past the change.
    """
    deadline = time.monotonic() + deadline_s
    pause = 0.00005
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, _POLL_MAX_S)
    return True


def freeze_timed_out(directory: Path) -> PlatformFailure:
    return PlatformFailure(
        f"control group {directory} did not freeze within {FREEZE_DEADLINE_S:.0f} s (a process may be in an"
        " uninterruptible wait); it was thawed again"
    )


class SandboxCgroup(abc.ABC):
    """One sandbox's control groups: its limits, its accounting, and a handle on all its processes."""

    @abc.abstractmethod
    def procs_files(self) -> list[Path]:
        """The files a process writes its pid to, to join the sandbox (one per hierarchy it is in)."""

    def add(self, pid: int) -> None:
        """Move process `pid` (with all its threads) into this group, in every hierarchy."""
        for procs in self.procs_files():
            procs.write_text(str(pid))

    @abc.abstractmethod
    def oom_kills(self) -> int:
        """How many processes the kernel killed for hitting the memory limit."""

    @abc.abstractmethod
    def peak_memory(self) -> int:
        """Highest memory use of the whole sandbox so far, in bytes: REPORT's "Max Memory Used"."""

    @abc.abstractmethod
    def set_limits(self, memory_bytes: int, max_processes: int) -> None:
        """Replace the memory and process limits (lowering memory below what is in use fails)."""

    @abc.abstractmethod
    def limit_cpus(self, cpus: float) -> None:
        """Cap the sandbox at `cpus` cores from now on (no-op where the host has no cpu controller)."""

    @abc.abstractmethod
    def freeze(self, wait: bool = True) -> bool:
        """Stop every process of the sandbox and (with `wait`) return once all are stopped.

        False where this host cannot freeze (no freezer), True once frozen. Raises `PlatformFailure` when the
        group is not frozen after about a second; it is thawed again then, so it is never left half-frozen.
        Without `wait` it only asks the kernel, which stops each process as it next leaves the kernel.
        """

    @abc.abstractmethod
    def thaw(self) -> bool:
        """Let a frozen sandbox run again; False where this host cannot freeze."""

    @abc.abstractmethod
    def kill_all(self) -> None:
        """SIGKILL every process of the sandbox, frozen ones included."""

    @abc.abstractmethod
    def remove(self) -> bool:
        """Remove the groups; False while a process is still in one (it is still dying)."""

    def pids(self) -> list[int]:
        found: set[int] = set()
        for procs in self.procs_files():
            with contextlib.suppress(OSError, ValueError):
                found.update(int(p) for p in procs.read_text().split())
        return sorted(found)

    def _kill_pids(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class Hierarchy(Protocol):
    """Firebox's subtree in one cgroup version's hierarchies: what `CgroupTree` delegates to."""

    @property
    def version(self) -> int: ...

    def create(self, name: str, memory_bytes: int, max_processes: int, cpus: float) -> SandboxCgroup: ...

    def remove(self) -> None: ...
