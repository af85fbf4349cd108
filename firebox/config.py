"""Settings of one Firebox server, with every default stated here and nowhere else."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 9000
    data_dir: Path = Path(".firebox")
    # The key that seals secrets in the state store (None: DATA_DIR/state.key, made on the first start)
    state_key_file: Path | None = None
    region: str = "us-east-1"
    account_id: str = "000000000000"
    keep_alive_s: float = 300.0  # how long an idle execution environment stays warm
    backend: str = "namespaces"  # or "process": no isolation, for development where namespaces cannot run
    log_budget_bytes: int = 4 * 1024 * 1024  # log output one invocation may write; the rest is dropped
    account_concurrency: int = 1000  # invocations in flight at once, over all functions (Lambda's default)
    scaling_environments: int = 1000  # new environments one function may start per scaling window (Lambda's)
    scaling_window_s: float = 10.0
    # SnapStart: restored copies of each snapshot kept ready ahead of the restores that need them (0: each
    # restore forks its copy on demand; each ready copy costs its few MB of private memory while it waits)
    snapstart_ready_copies: int = 1
    # Modules each zygote imports ahead of every cold start, where the function's interpreter has them
    preload: tuple[str, ...] = ("boto3",)
    # Worker processes running the environments (0: in the server's own process)
    workers: int = os.cpu_count() or 1
    # Memory (MB) that the MemorySize of all environments may add up to, split evenly between the workers
    # (0: embedded.OVERCOMMIT times the host's physical memory); past it, idle environments make room, and busy ones
    # throttle
    memory_mb: int = 0
    # Lambda's wait before the first retry of a failed asynchronous event; every retry and backoff delay of
    # asynchronous invocation scales with it (tests shorten it)
    async_retry_delay_s: float = 60.0
    # Asynchronous events tried at once, over all functions
    async_concurrency: int = 64
    # Every API request must carry a valid SigV4 signature by one of the server's access keys; False
    # (--insecure-no-auth) lets anyone who reaches the port do anything
    require_auth: bool = True
    # How long a worker process whose server was killed keeps its environments for a server to adopt them
    reattach_s: float = 30.0

    @property
    def endpoint(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"
