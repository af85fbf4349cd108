"""What the journal keeps of one execution environment."""

from __future__ import annotations

import enum

import msgspec


class EnvironmentState(enum.StrEnum):
    STARTING = "starting"  # asked of a worker, initialising
    IDLE = "idle"  # waiting for an invocation
    FROZEN = "frozen"  # idle, and its processes stopped by the cgroup freezer
    BUSY = "busy"  # running an invocation
    GONE = "gone"  # ended: its record is removed from the journal


class EnvironmentRecord(msgspec.Struct, frozen=True):
    env_id: str
    worker_id: str
    function: str
    version: str
    revision_id: str  # of the configuration it runs: with function and version, what it can serve
    state: EnvironmentState
    provisioned: bool = False  # one of a provisioned concurrency configuration's environments
    changed_at: float = 0.0  # wall-clock time of the change to the state written
