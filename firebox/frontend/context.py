"""What every API resource module of the frontend works with, built once by the server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from firebox.assignment import Assignment
from firebox.observability import LogStore
from firebox.store import Arns, CodeStore, FunctionRegistry
from firebox.worker import Runtimes


@dataclass(frozen=True, slots=True)
class Call:
    """The request an operation serves, beyond its parameters."""

    request_id: str
    base_url: str  # scheme://host:port the client reached us at, for URLs we hand back


Params = dict[str, Any]
Result = dict[str, Any]
Operation = Callable[[Params, Call], Awaitable[Result]]


@dataclass(frozen=True, slots=True)
class Frontend:
    registry: FunctionRegistry
    code_store: CodeStore
    arns: Arns
    runtimes: Runtimes
    assignment: Assignment
    log_store: LogStore
    account_concurrency: int = 1000
