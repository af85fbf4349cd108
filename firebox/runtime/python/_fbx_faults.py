"""Errors the runtime reports to the Runtime API, in the shapes and words of AWS's Python runtime."""

from __future__ import annotations

import json
import os
import traceback
from types import TracebackType
from typing import Any, NamedTuple

MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

# The value of Lambda-Runtime-Function-Error-Type on every invocation error, as AWS's client sends it.
UNHANDLED = "Unhandled"

_RUNTIME_DIR = os.path.dirname(os.path.realpath(__file__))
_IMPORTLIB_DIR = os.path.dirname(traceback.__file__) + os.sep + "importlib" + os.sep


class ErrorReport(NamedTuple):
    """The body of an init or invocation error, minus the request id the caller knows."""

    error_type: str
    error_message: str
    stack_trace: list[str]

    def to_json(self, request_id: str) -> bytes:
        return json.dumps(
            {
                "errorMessage": self.error_message,
                "errorType": self.error_type,
                "requestId": request_id,
                "stackTrace": self.stack_trace,
            }
        ).encode("utf-8")


class FaultError(Exception):
    """A failure of the runtime's own making (bad handler name, unserialisable result...), not the user's."""

    def __init__(self, error_type: str, message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.report = ErrorReport(error_type, message, stack_trace or [])


def report_exception(exc: BaseException) -> ErrorReport:
    """Describe an exception raised by user code: its class name, its text and the user's frames."""
    return ErrorReport(type(exc).__name__, str(exc), format_user_frames(exc.__traceback__))


def format_user_frames(tb: TracebackType | None) -> list[str]:
    """Format a traceback as AWS does, without the runtime's and the import machinery's leading frames."""
    frames = traceback.extract_tb(tb)
    start = 0
    while start < len(frames) and _is_runtime_frame(frames[start].filename):
        start += 1
    # Plain tuples, not FrameSummary objects: Python 3.11+ would add ^^^ marker lines, which AWS's
    # stack traces do not have.
    entries: list[tuple[str, Any, str, str | None]] = [
        (frame.filename, frame.lineno, frame.name, frame.line) for frame in frames[start:]
    ]
    return traceback.format_list(entries)


def _is_runtime_frame(filename: str) -> bool:
    return (
        os.path.dirname(filename) == _RUNTIME_DIR
        or filename.startswith("<frozen importlib")
        or filename.startswith(_IMPORTLIB_DIR)
    )
