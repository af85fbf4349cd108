"""The sandbox-backend interface: how a worker starts, watches and ends an execution environment.

A backend turns a `SandboxSpec` into a running `Sandbox`: one process tree with the function's code at its
task root, a private /tmp, the limits of the spec, and one pipe carrying everything it writes to stdout
and stderr. Backends differ only in how strongly the tree is isolated from the host.
"""

from __future__ import annotations

import enum
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PythonRuntime:
    """Firebox's built-in Python runtime client under `interpreter`."""

    interpreter: str
    bootstrap: Path  # the runtime client's entry point; its directory holds the rest of it


@dataclass(frozen=True, slots=True)
class Executable:
    """A program in the function's code or its layers, such as a custom runtime's `bootstrap`."""

    name: str  # relative to the task root, or else to the layers' root (/opt)


Launch = PythonRuntime | Executable


class Network(enum.Enum):
    """What a sandbox's network namespace holds besides the Runtime API on its loopback."""

    NONE = "none"  # nothing: no route anywhere
    OUTBOUND = "outbound"  # outbound connections through the host's network, never to the host's loopback


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    """What to run and under which limits. The backend adds the variables that depend on how the sandbox
    looks from inside: LAMBDA_TASK_ROOT, AWS_LAMBDA_RUNTIME_API (and TMPDIR where /tmp is shared)."""

    sandbox_id: str
    launch: Launch
    env: Mapping[str, str]
    task_root: Path  # the unpacked code on the host, read-only: /var/task on AWS
    memory_mb: int
    ephemeral_storage_mb: int
    opt_root: Path | None = None  # the function's layers merged on the host, read-only: /opt on AWS
    max_processes: int = 1024  # AWS's limit on processes and threads per environment
    network: Network = Network.NONE
    # A SnapStart template: after INIT, the runtime hands over to the sandbox, which then makes restored copies
    # of the initialised process (`SandboxBackend.restore`) instead of serving invocations itself.
    template: bool = False


def program_root(spec: SandboxSpec, name: str) -> Path | None:
    """The directory on the host holding the program `name`: the function's code, or else its layers (Lambda
    looks for a custom runtime's bootstrap in /var/task, then in /opt); None when neither has it."""
    for root in (spec.task_root, spec.opt_root):
        if root is not None and os.path.isfile(root / name) and os.access(root / name, os.X_OK):
            return root
    return None


# A sandbox runs INIT with every core of the host and gets the CPU share of its memory size (1,769 MB = one
# vCPU, as on Lambda) once INIT is over: a small function's cold start is not stretched by its share.
INIT_CPUS = float(os.cpu_count() or 1)


class ExitCause(enum.Enum):
    EXITED = "exited"  # the process ended by itself (returncode >= 0)
    SIGNALLED = "signalled"  # killed by a signal we did not send
    OUT_OF_MEMORY = "out_of_memory"  # the memory limit was hit and the kernel killed it
    KILLED = "killed"  # we ended it (timeout, reap, shutdown)


@dataclass(frozen=True, slots=True)
class SandboxExit:
    cause: ExitCause
    returncode: int

    def describe(self) -> str:
        """How Lambda words an environment's end: 'exit status 1', 'signal: killed'."""
        if self.returncode >= 0:
            return f"exit status {self.returncode}"
        return "signal: killed" if self.returncode == -9 else f"signal: {-self.returncode}"


class SandboxHandles:
    """What every backend's sandbox holds alike: its spec, its output pipe and its Runtime API socket."""

    def __init__(self, spec: SandboxSpec, output_fd: int, api: socket.socket) -> None:
        self._spec = spec
        self._output_fd = output_fd
        self._api = api

    @property
    def sandbox_id(self) -> str:
        return self._spec.sandbox_id

    @property
    def output_fd(self) -> int:
        return self._output_fd

    @property
    def runtime_api_socket(self) -> socket.socket:
        return self._api


class Sandbox(Protocol):
    @property
    def sandbox_id(self) -> str: ...

    @property
    def output_fd(self) -> int:
        """Read end (non-blocking) of the pipe that carries the sandbox's stdout and stderr."""
        ...

    @property
    def runtime_api_socket(self) -> socket.socket:
        """The listening socket the sandbox's runtime reaches the Runtime API at; the worker serves it."""
        ...

    async def wait(self) -> SandboxExit:
        """Block until the sandbox's main process has ended."""
        ...

    def kill(self) -> None:
        """End every process of the sandbox now; `wait` then reports KILLED."""
        ...

    def max_memory_used(self) -> int:
        """Peak memory of the whole sandbox so far, in bytes."""
        ...

    def initialised(self) -> None:
        """INIT is over: from now on the sandbox gets the CPU share of its memory size."""
        ...

    def freeze(self) -> bool:
        """Have every process of the idle sandbox stopped, without waiting for it (False where this host
        cannot freeze)."""
        ...

    def thaw(self) -> bool:
        """Let a frozen sandbox run again (False where this host cannot freeze)."""
        ...

    async def destroy(self) -> None:
        """Kill, wait, and release everything the sandbox held (limits, /tmp, pipe)."""
        ...


class SandboxBackend(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def isolated(self) -> bool: ...

    async def start(self, spec: SandboxSpec) -> Sandbox: ...

    async def restore(self, template: Sandbox, spec: SandboxSpec) -> Sandbox:
        """A new sandbox for `spec` that is a copy of `template` (started with `template=True`, past its INIT),
        with its own namespaces, /tmp, Runtime API and limits. Raises SandboxStartFailed where the backend
        cannot (SnapStart needs the namespace backend)."""
        ...

    async def close(self) -> None:
        """Release what the backend holds for all its sandboxes (they are destroyed already)."""
        ...
