"""FunctionConfiguration as AWS returns it, from a stored FunctionConfig."""

from __future__ import annotations

from typing import Any

from firebox.store import Arns, FunctionConfig


def function_configuration(config: FunctionConfig, arns: Arns) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "FunctionName": config.name,
        "FunctionArn": arns.function(config.name, None if config.is_latest else config.version),
        "Runtime": config.runtime,
        "Role": config.role,
        "Handler": config.handler,
        "CodeSize": config.code.size,
        "Description": config.description,
        "Timeout": config.timeout,
        "MemorySize": config.memory_size,
        "LastModified": config.last_modified,
        "CodeSha256": config.code.sha256_b64,
        "Version": config.version,
        "TracingConfig": {"Mode": config.tracing_mode},
        "RevisionId": config.revision_id,
        # Firebox prepares nothing ahead of the first invocation, so a function is ready as soon as it is stored.
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": list(config.architectures),
        "EphemeralStorage": {"Size": config.ephemeral_storage},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": config.log_format, "LogGroup": config.log_group_name},
    }
    if config.environment:
        shape["Environment"] = {"Variables": dict(config.environment)}
    return shape
