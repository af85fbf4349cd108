"""Logs, reports and (later) metrics and traces of every invocation."""

from firebox.observability.lambda_lines import MIB, Report, end_line, report_line, start_line
from firebox.observability.logs import LogEvent, LogStore, LogStream

__all__ = ["MIB", "LogEvent", "LogStore", "LogStream", "Report", "end_line", "report_line", "start_line"]
