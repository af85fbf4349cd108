"""Function logs as AWS's Python runtime writes them, on stdout, one line per record.

The worker reads stdout line by line, so a multi-line record (a message with newlines, a logged
traceback) has its newlines turned into carriage returns: it stays one log event, as AWS's
framed log protocol keeps it.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any

from ._fbx_faults import ErrorReport

_TEXT_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s"
_TEXT_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
_JSON_DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_ERROR_INDENT = "\u00a0"  # AWS indents stack frames in error lines with no-break spaces
# LogRecord attributes that are not the user's `extra` fields, so never copied into a JSON record.
_RESERVED_FIELDS = frozenset(
    {
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
        "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread",
        "threadName", "processName", "process", "aws_request_id", "tenant_id", "_frame_type",
    }
)  # fmt: skip


def line_buffer_stdio() -> None:
    """Make each printed line reach the pipe as it is written, as it would on AWS.

    Python block-buffers stdout into a pipe: the lines of a handler that later times out (and is
    killed) would be lost.
    """
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)


def flush_stdio() -> None:
    """Push out any partial line: the worker collects a handler's output when its result arrives."""
    sys.stdout.flush()
    sys.stderr.flush()


class RequestIdFilter(logging.Filter):
    """Stamps every record with the id of the invoke being served (empty during init)."""

    def __init__(self) -> None:
        super().__init__()
        self.request_id = ""
        self.tenant_id: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        record.tenant_id = self.tenant_id
        return True


class _StdoutHandler(logging.Handler):
    # Looks sys.stdout up on every record, as AWS does, so a handler that swaps stdout swaps logs too.
    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record))
        except Exception:  # logging's contract: report through handleError, never raise into user code
            self.handleError(record)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", "\r") + "\n"


class _JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(datefmt=_JSON_DATE_FORMAT)
        self._encode = json.JSONEncoder(ensure_ascii=False, default=str).encode

    def format(self, record: logging.LogRecord) -> str:
        level = min(50, max(0, record.levelno)) // 10 * 10
        exc_info = record.exc_info
        # A dict logged on its own stays an object, as AWS's formatter keeps it.
        message = record.msg if isinstance(record.msg, dict) and not record.args else record.getMessage()
        result: dict[str, Any] = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": logging.getLevelName(level),
            "message": message,
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc_info[2]) if exc_info else None,
            "errorType": exc_info[0].__name__ if exc_info and exc_info[0] else None,
            "errorMessage": str(exc_info[1]) if exc_info else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc_info else None,
            "tenantId": getattr(record, "tenant_id", None),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED_FIELDS and key not in result:
                result[key] = value
        return self._encode({k: v for k, v in result.items() if v is not None}) + "\n"


class FunctionLogs:
    """The root logger's handler plus the error lines the runtime itself writes."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._json = environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"
        self.request_ids = RequestIdFilter()
        # Class-wide, as AWS sets it: every formatter in the function, the user's too, writes UTC.
        logging.Formatter.converter = time.gmtime
        handler = _StdoutHandler()
        formatter = _JsonFormatter() if self._json else _TextFormatter(_TEXT_FORMAT, _TEXT_DATE_FORMAT)
        handler.setFormatter(formatter)
        handler.addFilter(self.request_ids)
        root = logging.getLogger()
        root.addHandler(handler)
        level = _level_from_env(environ.get("AWS_LAMBDA_LOG_LEVEL"))
        if level is not None:
            root.setLevel(level)

    def log_error(self, report: ErrorReport, request_id: str) -> None:
        """Write the one-line error record AWS's runtime writes before reporting a failure."""
        if self._json:
            record = {
                "timestamp": time.strftime(_JSON_DATE_FORMAT, time.gmtime()),
                "level": "ERROR",
                "errorMessage": report.error_message,
                "errorType": report.error_type,
                "requestId": request_id,
                "stackTrace": report.stack_trace,
            }
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            return
        head = "[ERROR]"
        if report.error_type:
            head += " " + report.error_type + (":" if report.error_message else "")
        if report.error_message:
            head += " " + report.error_message
        lines = [head, "Traceback (most recent call last):"]
        for frame in report.stack_trace:
            lines.extend(_indent_with_nbsp(line) for line in frame.splitlines())
        sys.stdout.write("\r".join(lines).replace("\n", "\r") + "\n")


def _level_from_env(value: str | None) -> int | None:
    if not value:
        return None
    name = "DEBUG" if value.upper() == "TRACE" else value.upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else None


def _indent_with_nbsp(line: str) -> str:
    stripped = line.lstrip(" ")
    return _ERROR_INDENT * (len(line) - len(stripped)) + stripped
