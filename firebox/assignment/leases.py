"""What assignment knows of one environment: where it runs, and what it runs."""

from __future__ import annotations

from dataclasses import dataclass

from firebox.store import FunctionConfig
from firebox.worker import WorkerApi


@dataclass(frozen=True, slots=True)
class EnvKey:
    """What an environment runs: environments with equal keys can serve each other's invocations."""

    function: str
    version: str
    revision_id: str

    @classmethod
    def of(cls, config: FunctionConfig) -> EnvKey:
        return cls(config.name, config.version, config.revision_id)


@dataclass(frozen=True, slots=True)
class Lease:
    worker: WorkerApi
    env_id: str
    provisioned: bool = False  # one of a provisioned concurrency configuration's environments

    @property
    def alive(self) -> bool:
        return self.worker.is_alive(self.env_id)
