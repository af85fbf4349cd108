"""Reading the REPORT line of a log tail."""

from __future__ import annotations

from bench.firebox_client import Invoked, parse_report

TAIL = (
    "START RequestId: r1 Version: $LATEST\n"
    "END RequestId: r1\n"
    "REPORT RequestId: r1\tDuration: 1.02 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t"
    "Max Memory Used: 4 MB\tInit Duration: 8.17 ms\t\n"
)


def test_report_fields_are_read_from_the_last_report_line() -> None:
    report = parse_report(TAIL)
    assert report["RequestId"] == "r1"
    assert report["Duration"] == "1.02 ms"
    assert Invoked(3.0, report).init_duration_ms == 8.17


def test_a_warm_report_has_no_init_duration() -> None:
    assert Invoked(1.0, parse_report(TAIL.replace("\tInit Duration: 8.17 ms", ""))).init_duration_ms is None
    assert parse_report("no report here") == {}
