"""The worker: execution environments of one host, their Runtime APIs, logs and limits."""

from firebox.worker.api import KeptEnvironment, WorkerApi, WorkerEvents
from firebox.worker.code_cache import CodeCache
from firebox.worker.invocation import Invocation, InvocationResult
from firebox.worker.layer_cache import LayerCache
from firebox.worker.remote import RemoteWorker
from firebox.worker.runtimes import Runtimes
from firebox.worker.sandbox_env import NETWORK_CHOICES, NETWORK_VARIABLE, RESERVED_NAMES, Credentials
from firebox.worker.service import WorkerService
from firebox.worker.snapshots import PENDING, SnapshotKey, SnapshotState, SnapshotStatus
from firebox.worker.worker import Worker, WorkerSettings

__all__ = [
    "NETWORK_CHOICES",
    "NETWORK_VARIABLE",
    "PENDING",
    "RESERVED_NAMES",
    "CodeCache",
    "Credentials",
    "Invocation",
    "InvocationResult",
    "KeptEnvironment",
    "LayerCache",
    "RemoteWorker",
    "Runtimes",
    "SnapshotKey",
    "SnapshotState",
    "SnapshotStatus",
    "Worker",
    "WorkerApi",
    "WorkerEvents",
    "WorkerService",
    "WorkerSettings",
]
