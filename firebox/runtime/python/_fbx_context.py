"""The context object handed to a handler, shaped like AWS's (awslambdaric's LambdaContext).

Attribute names, types and quirks follow AWS so code written for Lambda, and libraries such as
Powertools, read the same values here: memory_limit_in_mb is the environment variable's string,
identity is always an object, client_context is None unless the invoke carried one.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from ._fbx_client import Invocation
from ._fbx_faults import CONTEXT_UNMARSHAL_ERROR, FaultError

# Only these W3C trace-context fields leave the client context, and only through context.w3c().
_W3C_FIELDS = ("traceparent", "tracestate", "baggage")


class FunctionInfo(NamedTuple):
    """What the context reports about the function itself: fixed for the life of the process."""

    function_name: str | None
    function_version: str | None
    memory_limit_in_mb: str | None
    log_group_name: str | None
    log_stream_name: str | None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> FunctionInfo:
        return cls(
            environ.get("AWS_LAMBDA_FUNCTION_NAME"),
            environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
            environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
            environ.get("AWS_LAMBDA_LOG_GROUP_NAME"),
            environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        )


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, identity: Mapping[str, Any]) -> None:
        self.cognito_identity_id: str | None = identity.get("cognitoIdentityId")
        self.cognito_identity_pool_id: str | None = identity.get("cognitoIdentityPoolId")

    def __repr__(self) -> str:
        return (
            f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


class Client:
    __slots__ = ("app_package_name", "app_title", "app_version_code", "app_version_name", "installation_id")

    def __init__(self, client: Mapping[str, Any]) -> None:
        self.installation_id: Any = client.get("installation_id")
        self.app_title: Any = client.get("app_title")
        self.app_version_name: Any = client.get("app_version_name")
        self.app_version_code: Any = client.get("app_version_code")
        self.app_package_name: Any = client.get("app_package_name")

    def __repr__(self) -> str:
        return (
            f"Client([installation_id={self.installation_id},app_title={self.app_title},"
            f"app_version_name={self.app_version_name},app_version_code={self.app_version_code},"
            f"app_package_name={self.app_package_name}])"
        )


class ClientContext:
    __slots__ = ("client", "custom", "env")

    def __init__(self, context: Mapping[str, Any]) -> None:
        client = context.get("client")
        self.client: Client | None = Client(client) if isinstance(client, dict) else None
        self.custom: Any = context.get("custom")
        self.env: Any = context.get("env")

    def __repr__(self) -> str:
        return f"ClientContext([custom={self.custom},env={self.env},client={self.client}])"


class LambdaContext:
    """Per-invoke context. No __slots__ on purpose: on AWS, frameworks may hang attributes on it."""

    def __init__(self, invocation: Invocation, info: FunctionInfo) -> None:
        self.aws_request_id = invocation.request_id
        self.invoked_function_arn = invocation.invoked_function_arn
        self.tenant_id = invocation.tenant_id
        self.function_name = info.function_name
        self.function_version = info.function_version
        self.memory_limit_in_mb = info.memory_limit_in_mb
        self.log_group_name = info.log_group_name
        self.log_stream_name = info.log_stream_name
        self._deadline_ms = invocation.deadline_ms
        self._w3c: dict[str, str] = {}
        self.client_context: ClientContext | None = None
        if invocation.client_context:
            raw = _parse_header(invocation.client_context, "Client Context")
            if isinstance(raw, dict):
                self._w3c = _pop_w3c(raw)
                self.client_context = ClientContext(raw)
        identity: Any = {}
        if invocation.cognito_identity:
            identity = _parse_header(invocation.cognito_identity, "Cognito Identity")
        self.identity = CognitoIdentity(identity if isinstance(identity, dict) else {})

    def get_remaining_time_in_millis(self) -> int:
        remaining = self._deadline_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def w3c(self) -> dict[str, str]:
        """The W3C trace context the invoke carried in its client context."""
        return dict(self._w3c)

    def log(self, msg: object) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},client_context={self.client_context},"
            f"identity={self.identity},tenant_id={self.tenant_id}])"
        )


def _parse_header(value: str, name: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise FaultError(CONTEXT_UNMARSHAL_ERROR, f"Unable to parse {name} JSON: {exc}") from exc


def _pop_w3c(client_context: dict[str, Any]) -> dict[str, str]:
    # Removed from the client context so handlers reach it only through context.w3c(), as on AWS.
    raw = client_context.pop("w3c", None)
    if not isinstance(raw, dict):
        return {}
    return {key: raw[key] for key in _W3C_FIELDS if isinstance(raw.get(key), str)}
