"""Every deliberate Firebox error, named in Firebox's terms.

The frontend maps these to AWS error types in one table (`firebox.frontend.aws_errors`); nothing else
builds an AWS error body. A handler's own exception is not a platform error: it travels as an
`InvocationResult` with a function error, never as one of these.

    FireboxError
    ├── RequestRejected                  the caller sent something we refuse
    │   ├── ConstraintViolated           a field breaks the API model (min, max, pattern, enum, required)
    │   ├── InvalidParameter             a value is well-formed but not acceptable
    │   │   └── InvalidZipFile           code that cannot be unzipped or is too large unzipped
    │   ├── InvalidRequestContent        the body cannot be parsed (invalid JSON)
    │   ├── PayloadTooLarge              an invocation payload over the limit
    │   ├── RequestEntityTooLarge        a control-plane request over the limit
    │   ├── UnknownOperation             no API operation at that method and path
    │   ├── ResourceNotFound             function, version or alias does not exist
    │   │   ├── ProvisionedConfigNotFound  no provisioned concurrency configuration for that qualifier
    │   │   └── CodeSigningConfigNotFound  a function names a code signing configuration that does not exist
    │   ├── ResourceConflict             it exists already, or is in use
    │   ├── RevisionMismatch             a stale RevisionId or CodeSha256
    │   ├── SnapshotNotReady             a SnapStart version whose snapshot is still being made
    │   ├── CodeSignatureInvalid         a package's signature is malformed or does not match its content
    │   ├── CodeUntrusted                unsigned or untrusted code, under a code signing policy of Enforce
    │   ├── Throttled                    over a concurrency or scaling limit: try again later
    │   ├── NotAuthenticated             the request does not prove who sent it
    │   │   ├── MissingAuthentication    it carries no signature at all
    │   │   ├── UnknownAccessKey         it is signed with a key Firebox does not know
    │   │   └── SignatureMismatch        the signature is malformed, wrong, expired or wrongly scoped
    │   ├── AccessDenied                 the caller's policies do not allow what it asked for
    │   └── QueueRequestRejected         what the queue service refuses, in SQS's terms
    │       ├── QueueNotFound            no queue of that name, URL or ARN
    │       ├── QueueNameTaken           a queue of that name exists with other attributes
    │       ├── MissingParameter         a required parameter is absent or empty
    │       ├── InvalidQueueParameter    a value is not acceptable
    │       │   ├── InvalidMessageContents   a body with characters outside XML's
    │       │   ├── MessageNotInFlight   a visibility change for a message nobody holds
    │       │   └── ReceiptHandleInvalid a receipt handle Firebox never gave
    │       ├── InvalidAttributeName     an unknown queue or message attribute name
    │       ├── InvalidAttributeValue    a queue attribute value out of its range
    │       ├── BatchRejected            a batch request as a whole is refused
    │       │   ├── EmptyBatch, TooManyBatchEntries, BatchTooLong     no entries, over 10, over the size limit
    │       │   └── BatchEntryIdsNotDistinct, InvalidBatchEntryId     an entry id repeated or malformed
    │       ├── PurgeInProgress          a second purge within 60 seconds
    │       ├── QueueOperationUnsupported  an SQS operation Firebox does not serve
    │       └── UnknownQueueAction       no SQS operation of that name
    ├── RestoreFailed                    a SnapStart copy could not go on: an after-restore hook failed
    │   └── RestoreTimedOut              or the restore took longer than its limit
    └── PlatformFailure                  Firebox itself could not do the work
        ├── EnvironmentGone              the execution environment ended before or while it was used
        ├── NoRoom                       no worker has the memory for one more environment
        ├── SandboxStartFailed           a sandbox backend could not start an environment
        └── QueueStorageFailed           the queue service could not commit a change
"""

from __future__ import annotations


class FireboxError(Exception):
    """Root of every deliberate error; the message states the broken rule."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RequestRejected(FireboxError):
    pass


class ConstraintViolated(RequestRejected):
    pass


class InvalidParameter(RequestRejected):
    pass


class InvalidZipFile(InvalidParameter):
    pass


class InvalidRequestContent(RequestRejected):
    pass


class PayloadTooLarge(RequestRejected):
    pass


class RequestEntityTooLarge(RequestRejected):
    pass


class UnknownOperation(RequestRejected):
    pass


class ResourceNotFound(RequestRejected):
    pass


class ProvisionedConfigNotFound(ResourceNotFound):
    pass


class CodeSigningConfigNotFound(ResourceNotFound):
    pass


class ResourceConflict(RequestRejected):
    pass


class RevisionMismatch(RequestRejected):
    pass


class SnapshotNotReady(RequestRejected):
    pass


class CodeSignatureInvalid(RequestRejected):
    pass


class CodeUntrusted(RequestRejected):
    pass


class Throttled(RequestRejected):
    """`reason` is one of Lambda's ThrottleReason values; the caller may retry after `retry_after_s`."""

    def __init__(self, reason: str, retry_after_s: int = 1) -> None:
        super().__init__("Rate Exceeded.")
        self.reason = reason
        self.retry_after_s = retry_after_s


class NotAuthenticated(RequestRejected):
    pass


class MissingAuthentication(NotAuthenticated):
    pass


class UnknownAccessKey(NotAuthenticated):
    pass


class SignatureMismatch(NotAuthenticated):
    pass


class AccessDenied(RequestRejected):
    pass


class RestoreFailed(FireboxError):
    pass


class RestoreTimedOut(RestoreFailed):
    pass


class PlatformFailure(FireboxError):
    pass


class EnvironmentGone(PlatformFailure):
    pass


class NoRoom(PlatformFailure):
    pass


class SandboxStartFailed(PlatformFailure):
    pass


class QueueRequestRejected(RequestRejected):
    pass


class QueueNotFound(QueueRequestRejected):
    pass


class QueueNameTaken(QueueRequestRejected):
    pass


class MissingParameter(QueueRequestRejected):
    pass


class InvalidQueueParameter(QueueRequestRejected):
    pass


class InvalidMessageContents(InvalidQueueParameter):
    pass


class MessageNotInFlight(InvalidQueueParameter):
    pass


class ReceiptHandleInvalid(InvalidQueueParameter):
    pass


class InvalidAttributeName(QueueRequestRejected):
    pass


class InvalidAttributeValue(QueueRequestRejected):
    pass


class BatchRejected(QueueRequestRejected):
    pass


class EmptyBatch(BatchRejected):
    pass


class TooManyBatchEntries(BatchRejected):
    pass


class BatchEntryIdsNotDistinct(BatchRejected):
    pass


class InvalidBatchEntryId(BatchRejected):
    pass


class BatchTooLong(BatchRejected):
    pass


class PurgeInProgress(QueueRequestRejected):
    pass


class QueueOperationUnsupported(QueueRequestRejected):
    pass


class UnknownQueueAction(QueueRequestRejected):
    pass


class QueueStorageFailed(PlatformFailure):
    pass
