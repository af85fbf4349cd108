"""SnapStart snapshots on one worker: which published versions have a template, and in what state.

A snapshot is a template environment (`Origin.TEMPLATE`) that ran INIT once, stopped at the snapshot point,
and from then on only makes restored copies. Its state is the version's State as the API shows it:
Pending while INIT runs, Active once the template waits at the snapshot point, Failed (with the reason)
when INIT failed, timed out or the sandbox could not start.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from firebox.store import FunctionConfig


class SnapshotState(enum.Enum):
    PENDING = "Pending"
    ACTIVE = "Active"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class SnapshotStatus:
    state: SnapshotState
    reason: str | None = None  # StateReason, when Failed
    reason_code: str | None = None  # StateReasonCode, when Failed


PENDING = SnapshotStatus(SnapshotState.PENDING)
ACTIVE = SnapshotStatus(SnapshotState.ACTIVE)


@dataclass(frozen=True, slots=True)
class SnapshotKey:
    function: str
    version: str
    revision_id: str  # a deleted and re-created function numbers its versions from 1 again

    @classmethod
    def of(cls, config: FunctionConfig) -> SnapshotKey:
        return cls(config.name, config.version, config.revision_id)


def failed_init(payload: bytes, error_type: str | None) -> SnapshotStatus:
    """The status of a snapshot whose INIT failed as `payload` (a Lambda error object) says."""
    try:
        message = str(json.loads(payload).get("errorMessage", ""))
    except (ValueError, AttributeError):
        message = ""
    code = "FunctionError.InitTimeout" if error_type == "Sandbox.Timedout" else "FunctionError.RuntimeInitError"
    reason = f"Lambda could not create the snapshot: INIT failed with {error_type}"
    return SnapshotStatus(SnapshotState.FAILED, f"{reason}: {message}" if message else reason, code)


def failed_start(message: str) -> SnapshotStatus:
    return SnapshotStatus(SnapshotState.FAILED, f"Lambda could not create the snapshot: {message}", "InternalError")
