"""What crosses from the assignment service to a worker and back for one invocation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Invocation:
    request_id: str
    payload: bytes
    invoked_arn: str
    trace_id: str
    client_context: str | None = None  # the decoded JSON of X-Amz-Client-Context
    cognito_identity: str | None = None
    want_log_tail: bool = False


@dataclass(frozen=True, slots=True)
class InvocationResult:
    payload: bytes
    executed_version: str
    function_error: str | None = None  # "Unhandled" when the payload is an error object
    log_tail: bytes = b""  # the last 4 KB of the invocation's log, when asked for
    duration_ms: float = 0.0
    init_duration_ms: float | None = None  # set on the invocation that paid for a cold start
    restore_duration_ms: float | None = None  # instead, when the cold start was a SnapStart restore
    max_memory_used_mb: int = 0
