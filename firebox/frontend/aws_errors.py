"""The one place Firebox errors become AWS error types: Lambda's, and Amazon SQS's for the queue API."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from firebox.errors import (
    AccessDenied,
    BatchEntryIdsNotDistinct,
    BatchTooLong,
    CodeSignatureInvalid,
    CodeSigningConfigNotFound,
    CodeUntrusted,
    ConstraintViolated,
    EmptyBatch,
    FireboxError,
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidBatchEntryId,
    InvalidMessageContents,
    InvalidParameter,
    InvalidQueueParameter,
    InvalidRequestContent,
    MessageNotInFlight,
    MissingAuthentication,
    MissingParameter,
    PayloadTooLarge,
    ProvisionedConfigNotFound,
    PurgeInProgress,
    QueueNameTaken,
    QueueNotFound,
    QueueOperationUnsupported,
    ReceiptHandleInvalid,
    RequestEntityTooLarge,
    ResourceConflict,
    ResourceNotFound,
    RestoreFailed,
    RestoreTimedOut,
    RevisionMismatch,
    SignatureMismatch,
    SnapshotNotReady,
    Throttled,
    TooManyBatchEntries,
    UnknownAccessKey,
    UnknownOperation,
    UnknownQueueAction,
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
    CodeSigningConfigNotFound: ("CodeSigningConfigNotFoundException", 404),
    CodeSignatureInvalid: ("InvalidCodeSignatureException", 400),
    CodeUntrusted: ("CodeVerificationFailedException", 400),
    Throttled: ("TooManyRequestsException", 429),
    MissingAuthentication: ("MissingAuthenticationTokenException", 403),
    UnknownAccessKey: ("UnrecognizedClientException", 403),
    SignatureMismatch: ("InvalidSignatureException", 403),
    AccessDenied: ("AccessDeniedException", 403),
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


@dataclass(frozen=True, slots=True)
class SqsError:
    shape: str  # the error's shape in SQS's JSON model: the `__type` JSON clients map to an exception
    code: str  # its code in the query protocol, which JSON clients read from x-amzn-query-error
    status: int
    message: str

    @property
    def fault(self) -> str:
        return "Sender" if self.status < 500 else "Receiver"


# Our error -> (SQS error shape, query error code, HTTP status), as SQS's model and common errors name them.
# The most specific class wins; anything unmapped is an InternalError (500), logged with its traceback.
SQS_ERRORS: dict[type[FireboxError], tuple[str, str, int]] = {
    QueueNotFound: ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400),
    QueueNameTaken: ("QueueNameExists", "QueueAlreadyExists", 400),
    MissingParameter: ("MissingParameter", "MissingParameter", 400),
    InvalidQueueParameter: ("InvalidParameterValue", "InvalidParameterValue", 400),
    ConstraintViolated: ("InvalidParameterValue", "InvalidParameterValue", 400),
    InvalidRequestContent: ("InvalidParameterValue", "InvalidParameterValue", 400),
    InvalidMessageContents: ("InvalidMessageContents", "InvalidMessageContents", 400),
    MessageNotInFlight: ("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", 400),
    ReceiptHandleInvalid: ("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 404),
    InvalidAttributeName: ("InvalidAttributeName", "InvalidAttributeName", 400),
    InvalidAttributeValue: ("InvalidAttributeValue", "InvalidAttributeValue", 400),
    EmptyBatch: ("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", 400),
    TooManyBatchEntries: ("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400),
    BatchEntryIdsNotDistinct: ("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400),
    InvalidBatchEntryId: ("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", 400),
    BatchTooLong: ("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", 400),
    PurgeInProgress: ("PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", 403),
    QueueOperationUnsupported: ("UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", 400),
    UnknownQueueAction: ("InvalidAction", "InvalidAction", 400),
    RequestEntityTooLarge: ("RequestEntityTooLarge", "RequestEntityTooLarge", 413),
    MissingAuthentication: ("MissingAuthenticationToken", "MissingAuthenticationToken", 403),
    UnknownAccessKey: ("InvalidClientTokenId", "InvalidClientTokenId", 403),
    SignatureMismatch: ("SignatureDoesNotMatch", "SignatureDoesNotMatch", 403),
    AccessDenied: ("AccessDenied", "AccessDenied", 403),
}


def sqs_error_of(error: BaseException, request_id: str) -> SqsError:
    if isinstance(error, FireboxError):
        for cls in type(error).__mro__:
            if cls in SQS_ERRORS:
                shape, code, status = SQS_ERRORS[cls]
                return SqsError(shape, code, status, error.message)
    log.error("queue request %s failed", request_id, exc_info=error)
    return SqsError("InternalError", "InternalError", 500, "We encountered an internal error. Please try again.")
