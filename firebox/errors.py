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
    │   │   └── ProvisionedConfigNotFound  no provisioned concurrency configuration for that qualifier
    │   ├── ResourceConflict             it exists already, or is in use
    │   ├── RevisionMismatch             a stale RevisionId or CodeSha256
    │   ├── SnapshotNotReady             a SnapStart version whose snapshot is still being made
    │   └── Throttled                    over a concurrency or scaling limit: try again later
    ├── RestoreFailed                    a SnapStart copy could not go on: an after-restore hook failed
    │   └── RestoreTimedOut              or the restore took longer than its limit
    └── PlatformFailure                  Firebox itself could not do the work
        ├── EnvironmentGone              the execution environment ended before or while it was used
        ├── NoRoom                       no worker has the memory for one more environment
        └── SandboxStartFailed           a sandbox backend could not start an environment
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


class ResourceConflict(RequestRejected):
    pass


class RevisionMismatch(RequestRejected):
    pass


class SnapshotNotReady(RequestRejected):
    pass


class Throttled(RequestRejected):
    """`reason` is one of Lambda's ThrottleReason values; the caller may retry after `retry_after_s`."""

    def __init__(self, reason: str, retry_after_s: int = 1) -> None:
        super().__init__("Rate Exceeded.")
        self.reason = reason
        self.retry_after_s = retry_after_s


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
