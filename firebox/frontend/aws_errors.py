"""The one place Firebox errors become AWS error responses."""

from __future__ import annotations

import logging

from aiohttp import web

from firebox.errors import (
    ConstraintViolated,
    FireboxError,
    InvalidParameter,
    InvalidRequestContent,
    PayloadTooLarge,
    ProvisionedConfigNotFound,
    RequestEntityTooLarge,
    ResourceConflict,
    ResourceNotFound,
    RestoreFailed,
    RestoreTimedOut,
    RevisionMismatch,
    SnapshotNotReady,
    Throttled,
    UnknownOperation,
)

log = logging.getLogger(__name__)

# Our error -> (AWS error type, HTTP status). The most specific class wins; anything unmapped is a
# ServiceException (500), logged with its traceback.
AWS_ERRORS: dict[type[FireboxError], tuple[str, int]] = {
    ConstraintViolated: ("ValidationException", 400),
    InvalidParameter: ("InvalidParameterValueException", 400),
    InvalidRequestContent: ("InvalidRequestContentException", 400),
    PayloadTooLarge: ("RequestTooLargeException", 413),
    RequestEntityTooLarge: ("RequestEntityTooLargeException", 413),
    UnknownOperation: ("UnknownOperationException", 404),
    ResourceNotFound: ("ResourceNotFoundException", 404),
    ProvisionedConfigNotFound: ("ProvisionedConcurrencyConfigNotFoundException", 404),
    ResourceConflict: ("ResourceConflictException", 409),
    RevisionMismatch: ("PreconditionFailedException", 412),
    SnapshotNotReady: ("SnapStartNotReadyException", 409),
    Throttled: ("TooManyRequestsException", 429),
    RestoreFailed: ("SnapStartException", 400),
    RestoreTimedOut: ("SnapStartTimeoutException", 408),
}


def aws_error_of(error: BaseException) -> tuple[str, int, str]:
    """(AWS error type, HTTP status, message) for any exception."""
    if isinstance(error, FireboxError):
        for cls in type(error).__mro__:
            if cls in AWS_ERRORS:
                code, status = AWS_ERRORS[cls]
                return code, status, error.message
    return "ServiceException", 500, "Firebox could not complete the request; the server log has the details."


def error_response(error: BaseException, request_id: str) -> web.Response:
    code, status, message = aws_error_of(error)
    if status >= 500:
        log.error("request %s failed", request_id, exc_info=error)
    body = {"Type": "Service" if status >= 500 else "User", "message": message}
    headers = {"x-amzn-ErrorType": code, "x-amzn-RequestId": request_id}
    if isinstance(error, Throttled):  # TooManyRequestsException says why, and when to come back
        body["Reason"] = error.reason
        headers["Retry-After"] = str(error.retry_after_s)
    return web.json_response(body, status=status, headers=headers)
