"""START, END and REPORT lines in Lambda's exact format."""

from __future__ import annotations

from firebox.observability import Report, end_line, report_line, start_line


def test_start_and_end() -> None:
    assert start_line("abc", "$LATEST") == "START RequestId: abc Version: $LATEST"
    assert end_line("abc") == "END RequestId: abc"


def test_report_of_a_warm_invocation() -> None:
    line = report_line(Report("abc", duration_ms=12.344, memory_size_mb=128, max_memory_used_mb=40))
    assert line == (
        "REPORT RequestId: abc\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 40 MB\t"
    )


def test_report_of_a_cold_timed_out_invocation() -> None:
    report = Report("abc", 3000.0, 256, 60, init_duration_ms=120.5, status="timeout", error_type="Sandbox.Timedout")
    parts = report_line(report).split("\t")
    assert parts[3:] == [
        "Memory Size: 256 MB",
        "Max Memory Used: 60 MB",
        "Init Duration: 120.50 ms",
        "Status: timeout",
        "Error Type: Sandbox.Timedout",
        "",
    ]


def test_billed_duration_rounds_up_to_the_millisecond() -> None:
    assert Report("a", 0.2, 128, 1).billed_duration_ms == 1
    assert Report("a", 1.0, 128, 1).billed_duration_ms == 1
    assert Report("a", 1.01, 128, 1).billed_duration_ms == 2
