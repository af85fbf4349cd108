"""The platform lines Lambda writes around every invocation: START, END, REPORT."""

from __future__ import annotations

import math
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Report:
    request_id: str
    duration_ms: float
    memory_size_mb: int
    max_memory_used_mb: int
    init_duration_ms: float | None = None
    restore_duration_ms: float | None = None  # a SnapStart cold start: restored from a snapshot, no INIT
    status: str | None = None  # "timeout" or "error" when the invocation did not complete
    error_type: str | None = None

    @property
    def billed_duration_ms(self) -> int:
        return max(1, math.ceil(self.duration_ms))


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def report_line(report: Report) -> str:
    parts = [
        f"REPORT RequestId: {report.request_id}",
        f"Duration: {report.duration_ms:.2f} ms",
        f"Billed Duration: {report.billed_duration_ms} ms",
        f"Memory Size: {report.memory_size_mb} MB",
        f"Max Memory Used: {report.max_memory_used_mb} MB",
    ]
    if report.init_duration_ms is not None:
        parts.append(f"Init Duration: {report.init_duration_ms:.2f} ms")
    if report.restore_duration_ms is not None:
        parts.append(f"Restore Duration: {report.restore_duration_ms:.2f} ms")
        parts.append(f"Billed Restore Duration: {max(1, math.ceil(report.restore_duration_ms))} ms")
    if report.status is not None:
        parts.append(f"Status: {report.status}")
    if report.error_type is not None:
        parts.append(f"Error Type: {report.error_type}")
    return "\t".join(parts) + "\t"
